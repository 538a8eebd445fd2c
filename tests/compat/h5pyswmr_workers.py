"""Worker processes for the h5pySWMR README tests (importable by spawned children)."""

from __future__ import annotations

import time
from typing import Any


def hold_write_lock(path: str, holding: Any) -> None:
    """Hold the file's write lock until killed."""
    from ataraxis_like.hdf5 import locked_file

    with locked_file(path, "a", timeout=60):
        holding.set()
        time.sleep(3600)


def parallel_worker(f: Any, index: int, shape: tuple[int, int], start: Any, out: Any) -> None:
    """Every fourth worker overwrites rows 0:50 of its dataset with its index; the others read
    theirs whole. Reports (index, "ok") or what went wrong."""
    start.wait(60)
    try:
        dataset = f[f"/testgrp/dataset{index}"]
        if index % 4 == 0:
            dataset[0:50,] = index
        else:
            data = dataset[:]
            assert data.shape == shape, data.shape
        out.put((index, "ok"))
    except Exception as error:
        out.put((index, repr(error)))
