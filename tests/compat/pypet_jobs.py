"""Job functions for the pypet document's tests (importable by worker processes)."""

from __future__ import annotations

import time
from typing import Any


def multiply(traj: Any) -> None:
    traj.f_add_result("z", traj.x * traj.y, comment="Result of our simulation!")


def myjobfunc(traj: Any, *args: Any, **kwargs: Any) -> float:
    # Do some sophisticated simulations with your trajectory
    traj.f_add_result("my_result", traj.par.x * args[0] + kwargs["shift"],
                      comment="Mostly harmless!")  # fmt: skip
    traj.f_add_result("runs.$.summary", low=traj.x, high=traj.x + 1)
    return traj.x * 10


def slow_job(traj: Any) -> None:
    time.sleep(0.05)
    traj.f_add_result("z", traj.x * 2)
