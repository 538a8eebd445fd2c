"""SinkReader over damaged HDF5 files (flipped bytes, garbage, truncation): every key, value and
attribute it gives, or SinkReadError / another of our errors. HDF5 is C code that can crash
or spin on bad input, so the examples run in a child process: a crash there is a non-zero
exit, a hang the child's timeout, and either fails this test."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from .tally import examples, time_limit

pytestmark = pytest.mark.timeout(time_limit(240))

_CHILD = textwrap.dedent(
    """
    import sys
    from pathlib import Path

    import numpy as np
    from hypothesis import HealthCheck, example, given, settings
    from hypothesis import strategies as st

    from ataraxis_like.hdf5 import Hdf5Sink, SinkReader
    from tests.fuzz.tally import attempt

    work = Path(sys.argv[1])
    base = work / "base.h5"
    with Hdf5Sink(base, "w", compression=sys.argv[2] if sys.argv[2] != "none" else None) as sink:
        for row in range(60):
            sink.append("a/x", float(row))
            sink.append("b", np.arange(4) + row)
            sink.append("text", f"row {row}")
            sink.append("raw", bytes([row]) * 3)
        sink.write("array", np.arange(20).reshape(4, 5))
        sink.set_attrs("a/x", unit="s", scale=2.0)
        sink.set_attrs("/", experiment="fuzz")
    pristine = base.read_bytes()

    damage = st.fixed_dictionaries({
        "flips": st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(1, 255)),
                          min_size=1, max_size=4),
        "cut": st.none() | st.floats(0, 1),
        "garbage": st.none() | st.tuples(st.floats(0, 1), st.binary(min_size=1, max_size=32)),
    })

    @settings(max_examples=int(sys.argv[3]), deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(spec=damage)
    # Found by this fuzz: a damaged header in the middle of the file (keys() failed while it
    # tried to name the key it could not open, with an untyped error).
    @example(spec={"flips": [(0.5, 1)], "cut": None, "garbage": None})
    @example(spec={"flips": [(0.5, 1)], "cut": 0.5, "garbage": None})
    def read_damaged(spec):
        data = bytearray(pristine)
        for where, mask in spec["flips"]:
            data[int(where * len(data))] ^= mask
        if spec["garbage"] is not None:
            at = int(spec["garbage"][0] * len(data))
            data[at : at + len(spec["garbage"][1])] = spec["garbage"][1]
        if spec["cut"] is not None:
            del data[int(spec["cut"] * len(data)) :]
        path = work / "damaged.h5"
        path.write_bytes(data)
        with attempt("SinkReader"):
            with SinkReader(path, retry_seconds=0.01) as reader:
                for key in reader.keys():
                    reader.load(key)
                    reader.attrs(key)
                reader.attrs("/")

    read_damaged()
    print("done")
    """
)


@pytest.mark.parametrize("compression", ["none", "gzip"])
def test_sink_reader_over_damaged_files(tmp_path: Path, compression: str) -> None:
    root = Path(__file__).resolve().parents[2]
    path = f"{root}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"
    environment = {**os.environ, "PYTHONPATH": path}
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(tmp_path), compression, str(examples(150))],
        capture_output=True, text=True, timeout=200, check=False, env=environment, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, f"exit {done.returncode}:\n{done.stderr[-4000:]}"
    assert done.stdout.strip().endswith("done")
