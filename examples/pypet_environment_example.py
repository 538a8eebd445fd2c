"""pypet code run through ataraxis-like: only the import line differs from pypet.

python examples/pypet_environment_example.py [FOLDER]

A 4 x 3 exploration on 2 forked worker processes, results in our HDF5 layout, read back with
pypet's f_get_from_runs and with our overview tables; calling f_run again runs nothing.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from ataraxis_like.compat.pypet import Environment, cartesian_product, pypetconstants
from ataraxis_like.experiment import ExperimentResults


def multiply(traj: Any, offset: float = 0.0) -> float:
    """pypet's job: parameters by natural naming, a result added to the trajectory."""
    z = traj.x * traj.y + offset
    traj.f_add_result("z", z, comment="the product")
    return z > 20


def main() -> None:
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp())
    os.chdir(folder)
    env = Environment(trajectory="Multiplication", add_time=False, filename="./HDF/example.hdf5",
                      multiproc=True, ncores=2, wrap_mode=pypetconstants.WRAP_MODE_QUEUE,
                      comment="the pypet quick start")  # fmt: skip
    traj = env.v_trajectory
    traj.f_add_parameter("x", 1.0, comment="first dimension")
    traj.f_add_parameter("y", 1.0, comment="second dimension")
    traj.f_explore(cartesian_product({"x": [1.0, 2.0, 3.0, 4.0], "y": [6.0, 7.0, 8.0]}))
    returned = env.f_run(multiply, offset=0.5)
    print(f"{len(returned)} runs, return values of the first three: {returned[:3]}")
    print(f"z of run 11: {traj.f_get_from_runs('z')['run_00000011']}")
    print(f"f_run again: {len(env.f_run(multiply, offset=0.5))} runs, none run twice")
    results = ExperimentResults.load("HDF/example")
    print(f"stored in {Path('HDF/example/results.h5')}: {results.counts()}, "
          f"comment {results.comment!r}")  # fmt: skip
    table = results.results_per_run()
    print(f"results per run: {table.dtype.names}, largest z {table.z.max()}")
    print(f"attempts per run: {sorted(set(results.overview().attempts.tolist()))}")


if __name__ == "__main__":
    main()
