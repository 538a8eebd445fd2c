"""Runs as tasks of a concurrent.futures executor: results, a broken pool, kill and resume."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import time
import warnings
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from ataraxis_like.experiment import Experiment, ExperimentError, ExperimentResults, zipped

from . import functions
from .test_runner import completed_live, launch_slow_experiment

pytestmark = pytest.mark.timeout(180)


@pytest.mark.parametrize("runs_per_task", [1, 4])
def test_a_process_pool_executor_runs_everything_once(tmp_path: Path, runs_per_task: int) -> None:
    experiment = Experiment(
        "pool",
        tmp_path,
        defaults={"x": 0, "y": 0},
        exploration=[{"x": x, "y": y} for x in range(3) for y in range(3)],
    )
    with ProcessPoolExecutor(2, mp_context=mp.get_context("spawn")) as executor:
        counts = experiment.run(functions.simulate, executor=executor,
                                runs_per_task=runs_per_task)  # fmt: skip
    assert counts == {"completed": 8, "failed": 1, "skipped": 0}
    loaded = ExperimentResults.load(tmp_path)
    assert loaded.results("score")[1].tolist() == [0, 1, 2, 10, 11, 20, 21, 22]
    assert [record["loss"] for record in loaded.recorder(4).records] == [1.0, 0.5, 1 / 3]
    assert "x=1 and y=2 do not converge" in loaded.log(5)  # written by this process
    assert "RuntimeWarning: slow convergence" in loaded.log(6)
    assert loaded.overview().attempts.tolist() == [1] * 9
    assert {row["pid"] for row in ExperimentResults.load(tmp_path)._source.table} != {os.getpid()}


def test_a_thread_pool_and_function_arguments(tmp_path: Path) -> None:
    experiment = Experiment("threads", tmp_path, defaults={"x": 0}, exploration=zipped(x=[1, 2]))
    with ThreadPoolExecutor(2) as executor:
        counts = experiment.run(functions.with_arguments, executor=executor, args=(1,),
                                kwargs={"scale": 3})  # fmt: skip
    assert counts == {"completed": 2, "failed": 0, "skipped": 0}
    assert ExperimentResults.load(tmp_path).results("value")[1].tolist() == [6, 9]


def test_a_broken_process_pool_leaves_its_runs_pending(tmp_path: Path) -> None:
    """A worker that dies breaks a ProcessPoolExecutor: the runs in flight are not stored (they
    stay pending), what finished is kept, and run() says what happened."""
    experiment = Experiment("broken", tmp_path, defaults={"x": 0},
                            exploration=zipped(x=list(range(6))))  # fmt: skip
    with ProcessPoolExecutor(1, mp_context=mp.get_context("fork")) as executor, \
            pytest.raises(ExperimentError, match=r"executor broke .* stay pending"):  # fmt: skip
        experiment.run(functions.dies_on_three, executor=executor)
    statuses = {row["index"]: row["status"] for row in ExperimentResults.load(tmp_path).runs}
    assert statuses == {0: "completed", 1: "completed", 2: "completed"}
    assert experiment.pending() == [3, 4, 5]


def test_sigkill_of_the_caller_then_resume_on_an_executor(tmp_path: Path) -> None:
    directory = tmp_path / "exp"
    arguments = "executor=__import__('concurrent.futures').futures.ProcessPoolExecutor(2)"
    process = launch_slow_experiment(tmp_path, directory, "resume", 40, arguments)
    os.killpg(process.pid, signal.SIGKILL)  # the caller and the executor's workers
    process.wait()
    experiment = Experiment("resume", directory, defaults={"x": 0},
                            exploration=zipped(x=list(range(40))))  # fmt: skip
    before = experiment.pending()
    assert 0 < len(before) < 40
    with ProcessPoolExecutor(2) as executor:
        counts = experiment.run(functions.slow, executor=executor)
    assert counts == {"completed": len(before), "failed": 0, "skipped": 40 - len(before)}
    loaded = ExperimentResults.load(directory)
    assert loaded.counts() == {"completed": 40}
    assert loaded.overview().attempts.tolist() == [1] * 40, "a run was stored twice"
    indices, arrays = loaded.results("array")
    assert indices.tolist() == list(range(40))
    np.testing.assert_array_equal(arrays, np.arange(1000.0)[None, :] * np.arange(40)[:, None])
    for index in range(40):
        assert len(loaded.recorder(index).records) == 3, f"run {index} duplicated records"


@pytest.mark.parametrize("threads", [1, 4])
def test_warnings_of_runs_in_threads_reach_their_own_logs(tmp_path: Path, threads: int) -> None:
    """Runs in a thread pool raise warnings at once: each lands in its own run's log, and the
    process's warning display is as before afterwards."""
    before = warnings.showwarning
    experiment = Experiment("warn", tmp_path, defaults={"x": 0},
                            exploration=zipped(x=list(range(12))))  # fmt: skip
    with ThreadPoolExecutor(threads) as executor:
        experiment.run(functions.warns_every_run, executor=executor)
    loaded = ExperimentResults.load(tmp_path)
    for index in range(12):
        log = loaded.log(index)
        assert f"UserWarning: warning of run {index}" in log
        assert log.count("UserWarning: warning of run") == 1
    assert warnings.showwarning is before
    with pytest.warns(UserWarning, match="outside"):
        warnings.warn("outside", UserWarning, stacklevel=1)


@pytest.mark.parametrize("mode", ["pool", "executor"])
def test_a_finished_run_is_stored_while_a_slow_one_goes_on(tmp_path: Path, mode: str) -> None:
    """Outcomes wait for their batch at most about half a second, not for the next run to
    end: run 0 is in the file while run 1 still runs (a kill then would lose only run 1)."""
    gate = tmp_path / "gate"
    experiment = Experiment("slow", tmp_path / "exp", defaults={"x": 0, "gate": str(gate)},
                            exploration=zipped(x=[0, 1]))  # fmt: skip
    options: dict[str, object] = {"processes": 2, "start_method": "spawn"}
    with ThreadPoolExecutor(1) as threads, ThreadPoolExecutor(1) as runs:
        if mode == "executor":
            options = {"executor": runs}
        finished = threads.submit(experiment.run, functions.waits_for_gate, **options)
        deadline = time.monotonic() + 60
        while completed_live(tmp_path / "exp" / "results.h5") < 1:
            assert time.monotonic() < deadline, "run 0 was not stored while run 1 ran"
            assert not finished.done(), finished.result()
            time.sleep(0.02)
        gate.touch()
        assert finished.result(timeout=60) == {"completed": 2, "failed": 0, "skipped": 0}
