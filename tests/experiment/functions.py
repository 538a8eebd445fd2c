"""Experiment functions for the tests (importable by spawned workers)."""

from __future__ import annotations

import os
import signal
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np


def simulate(run: Any) -> dict[str, Any]:
    run.logger.info("simulating x=%s y=%s", run.x, run.y)
    for step in range(3):
        run.recorder.push(step=step, loss=run.x * run.y / (step + 1))
    if run.x == 1 and run.y == 2:
        raise ValueError("x=1 and y=2 do not converge")
    if run.x == 2 and run.y == 0:
        warnings.warn("slow convergence", RuntimeWarning, stacklevel=1)
    return {"score": run.x * 10 + run.y, "trace": np.full(100, float(run.x))}


def flaky(run: Any) -> int:
    """Fails until the file named by the parameter ``gate`` exists."""
    if not Path(run.gate).exists():
        raise RuntimeError("gate closed")
    return int(run.x) * 2


def slow(run: Any) -> dict[str, Any]:
    """Records, pauses, and returns: long enough for a kill to land in the middle."""
    for step in range(3):
        run.recorder.push(step=step, value=run.x)
    time.sleep(0.05)
    return {"score": run.x, "array": np.arange(1000, dtype=np.float64) * run.x}


def dies_on_three(run: Any) -> int:
    if run.x == 3:
        os.kill(os.getpid(), signal.SIGKILL)
    return int(run.x)


def dies_on_three_last(run: Any) -> int:
    """Like ``dies_on_three``, but run 3 kills its worker only once the other runs are done
    (each marks itself in the folder ``marks``; it waits for them up to half a minute): Dask
    charges a worker's death to every task the worker held, so a run queued behind the killer
    would fail with it."""
    marks = Path(run.marks)
    if run.x != 3:
        (marks / str(run.x)).touch()
        return int(run.x)
    deadline = time.monotonic() + 30
    while len(list(marks.iterdir())) < 5 and time.monotonic() < deadline:
        time.sleep(0.01)
    os.kill(os.getpid(), signal.SIGKILL)
    return 3


def clashing(run: Any) -> dict[str, Any]:
    """Run 1 returns results whose keys collide in the file ("a" is a dataset, then a group)."""
    if run.x == 1:
        return {"a": 1.0, "a/b": 2.0}
    return {"a": float(run.x)}


def results_file_descriptors(run: Any) -> int:
    """How many descriptors of this process point at the experiment's results file."""
    target = str(run.directory / "results.h5")
    count = 0
    for entry in os.listdir("/proc/self/fd"):
        try:
            count += os.readlink(f"/proc/self/fd/{entry}") == target
        except OSError:
            continue  # closed meanwhile (the listing's own descriptor)
    return count


def clashing_then_fine(run: Any) -> dict[str, Any]:
    """Like ``clashing`` until the file named by ``gate`` exists, then one other result."""
    if not Path(run.gate).exists():
        return clashing(run)
    return {"c": float(run.x)}


def quick_array(run: Any) -> dict[str, Any]:
    """No work; 2 KiB of result."""
    return {"array": np.full(256, float(run.x))}


def trivial(run: Any) -> dict[str, Any]:
    """Nothing but a scalar result (what the 100,000-run benchmark runs)."""
    return {"y": run.x * 2.0}


def with_arguments(run: Any, offset: int, *more: int, scale: int = 1) -> dict[str, Any]:
    """Uses the extra positional and keyword arguments ``run(args=..., kwargs=...)`` passes."""
    return {"value": (run.x + offset + sum(more)) * scale, "label": f"run{run.index}"}


def dies_once(run: Any) -> dict[str, Any]:
    """Kills its own process in run x == 3 the first time (the file ``gate`` marks it)."""
    if run.x == 3 and not Path(run.gate).exists():
        Path(run.gate).touch()
        os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(0.01)
    return {"y": run.x * 2.0}


def dies_once_late(run: Any) -> int:
    """Run ``killer`` kills its worker the first time (the file ``gate`` marks it), ``delay``
    seconds after it started: about when the result of the task before it on that worker is
    on its way to the caller."""
    if run.x == run.killer and not Path(run.gate).exists():
        Path(run.gate).touch()
        time.sleep(run.delay)
        os.kill(os.getpid(), signal.SIGKILL)
    return int(run.x)


def mixed_results(run: Any) -> dict[str, Any]:
    """Results that do not fit one column: shapes and types that vary between runs."""
    return {
        "ragged": np.arange(run.x + 1, dtype=np.float64),
        "number": 1.5 if run.x == 2 else run.x,
        "text": f"t{run.x}",
        "words": np.array(["a", "b"][: run.x % 2 + 1]),
        "nested": {"a": run.x, "b": {"c": float(run.x) / 2}},
    }


def warns_every_run(run: Any) -> int:
    """The same warning from the same line in every run (each run's log must show it)."""
    time.sleep(0.01)
    warnings.warn(f"warning of run {run.index}", UserWarning, stacklevel=1)
    time.sleep(0.01)
    return int(run.x)


def waits_for_gate(run: Any) -> int:
    """Run 0 returns at once; run 1 waits (up to a minute) until the file ``gate`` exists."""
    deadline = time.monotonic() + 60
    while run.x == 1 and not Path(run.gate).exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    return int(run.x)


def nul_key(run: Any) -> dict[str, Any]:
    """Run 1 returns a result whose name holds NUL: that run fails, the others are stored."""
    if run.x == 1:
        return {"a\x00b": 1.0, "a": float(run.x)}
    return {"a": float(run.x)}
