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


def test_a_reader_opening_while_the_writer_adds_objects_waits(h5_path: Path) -> None:
    """While a writer is out of SWMR mode (adding datasets), a reader's open waits for it."""
    import subprocess
    import sys
    import textwrap

    import numpy as np

    reader = textwrap.dedent(f"""
        import h5py
        from ataraxis_like.hdf5 import open_sink
        try:
            h5py.File({str(h5_path)!r}, "r", swmr=True, locking=False)
        except OSError as error:
            print("raw open refused:", "not already open for SWMR writing" in str(error))
        print("opening", flush=True)
        with open_sink({str(h5_path)!r}) as opened:
            print(sorted(opened.keys()))
    """)
    with Hdf5Sink(h5_path, "w") as sink:
        sink.write("first", np.arange(3))
        sink.flush()
        with sink.grouped():
            sink.write("second", np.arange(2))
            child = subprocess.Popen(
                [sys.executable, "-c", reader], stdout=subprocess.PIPE, text=True
            )
            assert child.stdout is not None
            assert child.stdout.readline() == "raw open refused: True\n"
            assert child.stdout.readline() == "opening\n"
            time.sleep(0.2)  # keep the window open while the reader retries (shorter only weakens)
        out, _ = child.communicate(timeout=30)
    assert child.returncode == 0
    assert out == "['first', 'second']\n"


def test_a_reader_waits_for_a_file_being_created(tmp_path: Path) -> None:
    """A reader that finds the file before its creator wrote the superblock waits; a file that
    never becomes HDF5 is refused with HDF5's own error."""
    import os
    import threading

    import h5py
    import numpy as np

    from ataraxis_like.hdf5 import SinkReader

    path = tmp_path / "late.h5"
    path.write_bytes(b"")  # created, superblock not written yet
    ready = tmp_path / "ready.h5"
    with h5py.File(ready, "w", libver="latest") as handle:
        handle["values"] = np.arange(4)

    def finish_creating() -> None:
        time.sleep(0.2)  # the reader is already retrying (earlier only makes the test weaker)
        os.replace(ready, path)

    creator = threading.Thread(target=finish_creating)
    creator.start()
    with SinkReader(path, retry_seconds=10) as reader:
        assert reader.load("values").tolist() == [0, 1, 2, 3]
    creator.join()
    garbage = tmp_path / "garbage.h5"
    garbage.write_bytes(b"not an HDF5 file at all" * 10)
    with pytest.raises(OSError, match="file signature not found"):
        SinkReader(garbage, retry_seconds=0.05)
