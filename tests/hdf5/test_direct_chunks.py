"""Whole chunks written straight to the file (issue 19): the same rows as the usual write, for
any chunk shape and any split of appends into blocks; filtered or other datasets write the
usual way; live readers and a killed writer see what they saw before."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

from ataraxis_like.hdf5 import Hdf5Sink, open_sink
from ataraxis_like.hdf5._store import Store

pytestmark = pytest.mark.timeout(120)

ROOT = Path(__file__).resolve().parents[2]


def _rows(dtype: str, shape: tuple[int, ...], count: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    values = rng.integers(-100, 100, (count, *shape))
    if dtype == "c16":
        return (values + 1j * values[::-1]).astype(dtype)
    if dtype == "?":
        return values > 0
    return values.astype(dtype)


@pytest.mark.parametrize("dtype", ["f8", "i4", "u1", "?", "c16"])
@pytest.mark.parametrize("shape", [(), (3,), (2, 5)])
@pytest.mark.parametrize("chunk_rows", [1, 3, 8])
def test_blocks_of_any_split_read_back_exactly(
    make_sink: Callable[..., Hdf5Sink], h5_path: Path, dtype: str, shape: tuple[int, ...],
    chunk_rows: int,
) -> None:  # fmt: skip
    rows = _rows(dtype, shape, 200, seed=chunk_rows)
    row_bytes = rows[0].nbytes
    sink = make_sink(h5_path, "w", chunk_bytes=chunk_rows * row_bytes, buffer_bytes=5 * row_bytes)
    rng = np.random.default_rng(len(shape))
    position = 0
    while position < len(rows):
        step = int(rng.integers(1, 3 * chunk_rows + 3))
        block = rows[position : position + step]
        if step % 3 == 0:
            for row in block:
                sink.append("x", row)
        else:
            sink.extend("x", block)
        if step % 4 == 0:
            sink.flush()  # a partial buffer: later blocks start inside a chunk
        position += len(block)
    sink.close()
    with h5py.File(h5_path, "r") as handle:
        dataset = handle["x"]
        assert dataset.chunks[0] == chunk_rows
        np.testing.assert_array_equal(dataset[()], rows)


def test_direct_writes_where_the_layout_allows_only(h5_path: Path) -> None:
    """Numbers without filters go straight to the file; compressed and text datasets do not."""
    with Hdf5Sink(h5_path, "w") as sink:
        sink.extend("plain", np.arange(10.0))
        sink.extend("text", ["a", "bc"])
        sink.flush()
    with Hdf5Sink(h5_path, "a", compression="gzip") as sink:
        sink.extend("zipped", np.arange(10.0))
        sink.flush()
    store = Store(h5_path, "a")
    try:
        for key in ("plain", "text", "zipped"):
            store.append_block(key, store.dataset(key)[:2])
        assert store._chunk_rows_direct["plain"] > 0
        assert store._chunk_rows_direct["text"] == 0
        assert store._chunk_rows_direct["zipped"] == 0
    finally:
        store.close()
    with open_sink(h5_path) as reader:
        np.testing.assert_array_equal(reader.load("zipped"), [*range(10), 0, 1])
        np.testing.assert_array_equal(reader.load("plain"), [*range(10), 0, 1])
        assert reader.load("text").tolist() == ["a", "bc", "a", "bc"]


def _frame(index: int) -> np.ndarray:
    return np.full(1 << 15, index, dtype=np.float64)  # 256 KiB


def _read_live(path: str, count: int, out: Any) -> None:
    """Open the file while it is being written and wait for ``count`` frames, checking each."""
    from ataraxis_like.hdf5 import open_sink

    with open_sink(path) as reader:
        for _ in range(3000):
            reader.refresh()
            frames = reader["frames"]
            if len(frames) >= count:
                data = frames[:count]
                out.put([int(row[0]) for row in data if (row == row[0]).all()])
                return
            import time

            time.sleep(0.01)
    out.put(None)


@pytest.mark.parametrize("sharing", [None, "queue"])
def test_a_live_reader_sees_large_frames(h5_path: Path, sharing: str | None) -> None:
    context = mp.get_context("spawn")
    out = context.Queue()
    with Hdf5Sink(h5_path, "w", sharing=sharing, flush_interval=0.05) as sink:
        sink.append("frames", _frame(0))
        sink.flush()
        reader = context.Process(target=_read_live, args=(str(h5_path), 40, out))
        reader.start()
        for index in range(1, 40):
            sink.append("frames", _frame(index))
        seen = out.get(timeout=90)
        reader.join(30)
    assert seen == list(range(40))


def _killed_frame_writer(path: Path) -> int:
    code = (
        "import os, signal, numpy as np\n"
        "from ataraxis_like.hdf5 import Hdf5Sink\n"
        f"sink = Hdf5Sink({str(path)!r}, 'w', flush_interval=60)\n"
        "for index in range(30):\n"
        "    sink.append('frames', np.full(1 << 15, index, dtype=np.float64))\n"
        "sink.flush()\n"
        "print('flushed 30', flush=True)\n"
        "for index in range(30, 45):\n"
        "    sink.append('frames', np.full(1 << 15, index, dtype=np.float64))\n"
        "print('waiting', flush=True)\n"
        "os.kill(os.getpid(), signal.SIGSTOP)\n"
    )
    process = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE,
                               text=True)  # fmt: skip
    assert process.stdout is not None
    for line in process.stdout:
        if line.startswith("waiting"):
            break
    os.kill(process.pid, signal.SIGKILL)
    process.wait(10)
    return 30


def test_a_killed_writer_leaves_every_flushed_frame_intact(h5_path: Path) -> None:
    flushed = _killed_frame_writer(h5_path)
    with Hdf5Sink(h5_path, "a") as sink:
        frames = sink.load("frames")
    assert len(frames) >= flushed
    for index, frame in enumerate(frames):
        np.testing.assert_array_equal(frame, _frame(index))
