"""A reader process polls the file while a writer appends (SWMR)."""

from __future__ import annotations

import multiprocessing as mp
import time
from pathlib import Path

import pytest

from ataraxis_like.hdf5 import Hdf5Sink

from . import workers

pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize("sharing", [None, "queue"])
def test_a_live_reader_sees_rows_within_a_second(h5_path: Path, sharing: str | None) -> None:
    context = mp.get_context("spawn")
    ready, idle, out = context.Event(), context.Value("q", 0), context.Queue()
    with Hdf5Sink(h5_path, "w", sharing=sharing) as sink:
        sink.append("rows", 0)
        sink.flush()
        reader = context.Process(target=workers.poll_reader, args=(str(h5_path), "rows", ready,
                                                                   idle, out))  # fmt: skip
        reader.start()
        assert ready.wait(30)
        row = 1
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:
            for _ in range(200):
                sink.append("rows", row)
                row += 1
            time.sleep(0.005)
        idle.value = row  # the writer goes idle: no flush() from here on
        result = out.get(timeout=30)
        reader.join(30)
    assert result[0] == "ok", result
    _state, seen, checks, delay = result
    assert seen == row
    assert checks > 10, "the reader should have read many times while rows arrived"
    assert delay < 1.0, f"rows became visible {delay:.2f} s after the writer went idle"
