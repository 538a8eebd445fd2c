"""A local sink on a file system that fills up: a real 2 MiB tmpfs, mounted for the test.

Every failure is SinkWriteError, close() works after it, the interpreter exits cleanly (no
segfault in HDF5 at exit), and the file holds exactly the rows flushed before the disk filled
(a prefix of what was appended: never a row that was not written). Space freed later lets
flush() write the rows still buffered. Needs root to mount; skipped otherwise (the 1 MiB
RLIMIT_FSIZE test in test_limits.py covers the typed error everywhere).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from ataraxis_like.hdf5 import open_sink

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs mounted under tmp_path, unmounted afterwards."""
    mount = shutil.which("mount")
    if os.geteuid() != 0 or mount is None:
        pytest.skip("mounting a small tmpfs needs root")
    point = tmp_path / "disk"
    point.mkdir()
    done = subprocess.run([mount, "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(point)],
                          capture_output=True, text=True, check=False)  # fmt: skip
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield point
    finally:
        subprocess.run(["umount", str(point)], check=True)


_FILL = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    from ataraxis_like.hdf5 import Hdf5Sink, SinkWriteError

    path, filler, compression = sys.argv[1], sys.argv[2], sys.argv[3]
    with open(filler, "wb") as handle:  # space to give back once the disk is full
        handle.write(bytes(256 << 10))
    sink = Hdf5Sink(path, "w", compression=None if compression == "none" else compression)
    appended = durable = 0
    errors = []
    try:
        while appended < 100_000:
            sink.append("frames", np.full(64, appended, dtype=np.float64))
            sink.append("labels", f"row {appended}")
            appended += 1
            if appended % 200 == 0:
                sink.flush()
                durable = appended
    except SinkWriteError as error:
        errors.append(str(error))
    for _ in range(3):  # more appends and flushes on the full disk fail the same way
        try:
            sink.append("frames", np.full(64, appended, dtype=np.float64))
            sink.append("labels", f"row {appended}")
            appended += 1
        except SinkWriteError as error:
            errors.append(str(error))
    if sys.argv[4] == "free":
        import os
        os.unlink(filler)
        sink.flush()  # the buffered rows go in now
        durable = appended
    try:
        sink.close()
        closed = "clean"
    except SinkWriteError as error:
        closed = str(error)
    print(json.dumps({"appended": appended, "durable": durable, "errors": errors,
                      "closed": closed}))
    """
)


@pytest.mark.parametrize("compression", ["none", "gzip"])
@pytest.mark.parametrize("then", ["close", "free"])
def test_a_full_disk_loses_only_unflushed_rows(small_disk: Path, compression: str,
                                               then: str) -> None:  # fmt: skip
    path = small_disk / "data.h5"
    done = subprocess.run(
        [sys.executable, "-c", _FILL, str(path), str(small_disk / "filler"), compression, then],
        capture_output=True, text=True, timeout=100, check=False,
    )  # fmt: skip
    assert done.returncode == 0, f"exit {done.returncode}: {done.stderr[-3000:]}"
    report = json.loads(done.stdout.splitlines()[-1])
    assert report["errors"], "the disk never filled"
    for error in report["errors"]:
        assert "\n" not in error
        assert "No space left on device" in error
        assert "decrement" not in error
    if then == "close":
        assert "No space left on device" in report["closed"] or report["closed"] == "clean"
    else:
        assert report["closed"] == "clean"
    with open_sink(path) as reader:
        frames, labels = reader.load("frames"), reader.load("labels")
    count = len(frames)
    assert report["durable"] <= count <= report["appended"]
    assert len(labels) >= report["durable"]
    assert np.array_equal(frames, np.repeat(np.arange(count, dtype=np.float64)[:, None], 64, 1))
    assert labels.tolist() == [f"row {index}" for index in range(len(labels))]
    assert path.stat().st_blocks * 512 < path.stat().st_size + (256 << 10)  # reserve given back
