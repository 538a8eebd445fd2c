"""Experiment workload, run under our interpreter and under pypet's own environment.

Usage: python experiment_workload.py ours|pypet PROCESSES [plain|compute|resume] [START_METHOD]
       python experiment_workload.py ours|pypet RUNS trivial
       python experiment_workload.py ours RUNS dask|dask-resume

A 10 x 10 exploration (x, y in 0..9); each run stores one scalar (x * y) and one array of
10,000 float64 values. Timed from before the experiment is built until its results are on disk
and the call has returned, in a fresh process. ``compute`` adds 20 ms of computation to each run
(where a pool starts to pay for its processes). ``resume`` (ours only) launches the
``compute`` experiment, SIGKILLs it once a third of its runs are in the file, resumes it
(without the computation), and checks every run is stored exactly once. START_METHOD (ours:
spawn, the default, fork or forkserver) is how pool workers start.

``trivial``: RUNS runs in one process that each store one scalar (per-run bookkeeping: time per
run and file bytes per run). ``dask``: the same on a LocalCluster of 2 worker processes (100
runs per task), with the calling process's CPU time per run; ``dask-resume`` SIGKILLs such a
sweep (caller, scheduler and workers) at its first stored batch and resumes it on a new
cluster. Prints one JSON object.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

LIBRARY, PROCESSES = sys.argv[1], int(sys.argv[2])
MODE = sys.argv[3] if len(sys.argv) > 3 else "plain"
START_METHOD = sys.argv[4] if len(sys.argv) > 4 else "spawn"
SIDE = 10
ARRAY_LENGTH = 10_000
COMPUTE_S = 0.020 if MODE in ("compute", "child") else 0.0  # "child": the run resume kills


def compute() -> None:
    """Busy work for ``COMPUTE_S`` seconds of this process's CPU time."""
    end = time.process_time() + COMPUTE_S
    while time.process_time() < end:
        pass


def ours_function(run: Any) -> dict[str, Any]:
    compute()
    array = np.random.default_rng(run.index).random(ARRAY_LENGTH)
    return {"z": run.x * run.y, "array": array}


def pypet_function(traj: Any) -> None:
    compute()
    array = np.random.default_rng(traj.v_idx).random(ARRAY_LENGTH)
    traj.f_add_result("z", traj.x * traj.y)
    traj.f_add_result("array", array)


def ours(directory: Path, processes: int) -> dict[str, int]:
    from ataraxis_like.experiment import Experiment, cartesian_product

    experiment = Experiment(
        "bench", directory, defaults={"x": 0.0, "y": 0.0},
        exploration=cartesian_product(x=[float(i) for i in range(SIDE)],
                                      y=[float(i) for i in range(SIDE)]),
    )  # fmt: skip
    return experiment.run(ours_function, processes=processes, start_method=START_METHOD)


def check_ours(directory: Path) -> None:
    from ataraxis_like.experiment import ExperimentResults

    results = ExperimentResults.load(directory)
    assert results.counts() == {"completed": SIDE * SIDE}, results.counts()
    indices, values = results.results("z")
    expected = [float((i // SIDE) * (i % SIDE)) for i in range(SIDE * SIDE)]
    assert indices.tolist() == list(range(SIDE * SIDE))
    assert values.tolist() == expected
    _, arrays = results.results("array")
    assert arrays.shape == (SIDE * SIDE, ARRAY_LENGTH)
    np.testing.assert_array_equal(arrays[7], np.random.default_rng(7).random(ARRAY_LENGTH))


def pypet(directory: Path, processes: int) -> None:
    import logging

    from pypet import Environment, cartesian_product  # type: ignore[import-not-found]

    logging.disable(logging.CRITICAL)
    options: dict[str, Any] = {"multiproc": processes > 1}
    if processes > 1:
        options.update(ncores=processes, use_pool=True)  # its default wrap mode (LOCK)
    environment = Environment(
        trajectory="bench", filename=str(directory / "bench.hdf5"), overwrite_file=True,
        log_config=None, report_progress=False, **options,
    )  # fmt: skip
    trajectory = environment.trajectory
    trajectory.f_add_parameter("x", 0.0)
    trajectory.f_add_parameter("y", 0.0)
    values = [float(i) for i in range(SIDE)]
    trajectory.f_explore(cartesian_product({"x": values, "y": values}))
    environment.run(pypet_function)
    environment.disable_logging()


def check_pypet(directory: Path) -> None:
    from pypet import Trajectory

    trajectory = Trajectory(filename=str(directory / "bench.hdf5"))
    trajectory.f_load(index=-1, load_parameters=2, load_results=2)
    assert len(trajectory) == SIDE * SIDE
    trajectory.v_idx = 7
    np.testing.assert_array_equal(
        trajectory.crun.array, np.random.default_rng(7).random(ARRAY_LENGTH)
    )


def completed(results: Path) -> int:
    """Runs completed in a results file its writer may still be writing (read live)."""
    from ataraxis_like.hdf5 import open_sink

    try:
        with open_sink(results) as reader:
            table = reader.file.get("runs")
            return 0 if table is None else int((table["status"] == 1).sum())
    except (OSError, KeyError, ValueError):
        return 0


def resume(directory: Path, processes: int) -> dict[str, float]:
    """Kill a launched experiment a third of the way through, resume, count."""
    from ataraxis_like.experiment import Experiment, cartesian_product

    launcher = [sys.executable, __file__, "ours", str(processes), "child", START_METHOD,
                str(directory)]  # fmt: skip
    process = subprocess.Popen(launcher, start_new_session=True)
    results = directory / "results.h5"
    while True:
        done = completed(results)
        if done >= SIDE * SIDE // 3 or process.poll() is not None:
            break
        time.sleep(0.005)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    experiment = Experiment(
        "bench", directory, defaults={"x": 0.0, "y": 0.0},
        exploration=cartesian_product(x=[float(i) for i in range(SIDE)],
                                      y=[float(i) for i in range(SIDE)]),
    )  # fmt: skip
    pending = len(experiment.pending())
    started = time.perf_counter()
    counts = experiment.run(ours_function, processes=processes, start_method=START_METHOD)
    seconds = time.perf_counter() - started
    if counts != {"completed": pending, "failed": 0, "skipped": SIDE * SIDE - pending}:
        raise RuntimeError(f"resume ran {counts}, expected only the {pending} missing runs")
    check_ours(directory)
    return {"resume_s": seconds, "done_before_resume": SIDE * SIDE - pending, "resumed_ok": 1.0}


def trivial_ours(run: Any) -> dict[str, Any]:
    return {"y": run.x * 2.0}


def trivial_pypet(traj: Any) -> None:
    traj.f_add_result("y", traj.x * 2.0)


def trivial(directory: Path, runs: int) -> dict[str, float]:
    """RUNS trivial runs in one process: seconds, ms and file bytes per run."""
    started = time.perf_counter()
    if LIBRARY == "ours":
        from ataraxis_like.experiment import Experiment, ExperimentResults, zipped

        experiment = Experiment("trivial", directory, defaults={"x": 0.0},
                                exploration=zipped(x=[float(i) for i in range(runs)]))  # fmt: skip
        experiment.run(trivial_ours)
        seconds = time.perf_counter() - started
        path = directory / "results.h5"
        values = ExperimentResults.load(directory).results("y")[1]
        assert values.tolist() == [2.0 * i for i in range(runs)]
    else:
        import logging

        from pypet import Environment

        logging.disable(logging.CRITICAL)
        path = directory / "trivial.hdf5"
        environment = Environment(trajectory="trivial", filename=str(path), overwrite_file=True,
                                  log_config=None, report_progress=False)  # fmt: skip
        environment.trajectory.f_add_parameter("x", 0.0)
        environment.trajectory.f_explore({"x": [float(i) for i in range(runs)]})
        environment.run(trivial_pypet)
        environment.disable_logging()
        seconds = time.perf_counter() - started
    size = path.stat().st_size
    return {"seconds": seconds, "ms_per_run": 1e3 * seconds / runs, "bytes_per_run": size / runs}


def _cluster_client() -> Any:
    from distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                           dashboard_address=":0")  # fmt: skip
    return cluster, Client(cluster)


def _trivial_experiment(directory: Path, runs: int) -> Any:
    from ataraxis_like.experiment import Experiment, zipped

    return Experiment("dask", directory, defaults={"x": 0.0},
                      exploration=zipped(x=[float(i) for i in range(runs)]))  # fmt: skip


def dask_sweep(directory: Path, runs: int) -> dict[str, float]:
    """The trivial sweep on 2 Dask worker processes: wall and caller CPU per run."""
    from ataraxis_like.experiment import ExperimentResults

    cluster, client = _cluster_client()
    try:
        client.wait_for_workers(2)
        experiment = _trivial_experiment(directory, runs)
        cpu, started = time.process_time(), time.perf_counter()
        counts = experiment.run(trivial_ours, executor=client, runs_per_task=100)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    finally:
        client.close()
        cluster.close()
    assert counts == {"completed": runs, "failed": 0, "skipped": 0}, counts
    values = ExperimentResults.load(directory).results("y")[1]
    assert values.tolist() == [2.0 * i for i in range(runs)]
    return {"seconds": seconds, "ms_per_run": 1e3 * seconds / runs,
            "caller_cpu_ms_per_run": 1e3 * cpu / runs}  # fmt: skip


SHM = Path("/dev/shm")


def _semaphores() -> set[str]:
    """Names of the multiprocessing semaphores in /dev/shm."""
    return {path.name for path in SHM.glob("sem.mp-*")}


def dask_resume(directory: Path, runs: int) -> dict[str, float]:
    """Kill a Dask sweep (its whole process group) mid-sweep, resume, check."""
    from ataraxis_like.experiment import ExperimentResults

    launcher = [sys.executable, __file__, "ours", str(runs), "dask-child", "-", str(directory)]
    semaphores = _semaphores()
    process = subprocess.Popen(launcher, start_new_session=True)
    while not completed(directory / "results.h5") and process.poll() is None:
        time.sleep(0.005)  # killed at its first stored batch (a batch per 0.5 s)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    for name in _semaphores() - semaphores:  # the killed group's: its resource tracker died too
        (SHM / name).unlink(missing_ok=True)
    experiment = _trivial_experiment(directory, runs)
    pending = len(experiment.pending())
    if not 0 < pending < runs:
        raise RuntimeError(f"the kill did not land mid-sweep ({runs - pending} runs were done)")
    cluster, client = _cluster_client()
    try:
        started = time.perf_counter()
        counts = experiment.run(trivial_ours, executor=client, runs_per_task=100)
        seconds = time.perf_counter() - started
    finally:
        client.close()
        cluster.close()
    if counts != {"completed": pending, "failed": 0, "skipped": runs - pending}:
        raise RuntimeError(f"resume ran {counts}, expected only the {pending} missing runs")
    loaded = ExperimentResults.load(directory)
    assert loaded.results("y")[1].tolist() == [2.0 * i for i in range(runs)]
    assert loaded.overview().attempts.tolist() == [1] * runs, "a run was stored twice"
    return {"resume_s": seconds, "done_before_resume": runs - pending, "resumed_ok": 1.0}


def main() -> None:
    if MODE == "dask-child":
        _cluster, client = _cluster_client()
        _trivial_experiment(Path(sys.argv[5]), PROCESSES).run(
            trivial_ours, executor=client, runs_per_task=100
        )
        return
    if MODE in ("trivial", "dask", "dask-resume"):
        directory = Path(tempfile.mkdtemp(prefix="atxl-bench-experiment-"))
        try:
            work = {"trivial": trivial, "dask": dask_sweep, "dask-resume": dask_resume}[MODE]
            print(json.dumps(work(directory, PROCESSES)))
        finally:
            shutil.rmtree(directory, ignore_errors=True)
        return
    if MODE == "child":
        ours(Path(sys.argv[5]), PROCESSES)
        return
    directory = Path(tempfile.mkdtemp(prefix="atxl-bench-experiment-"))
    try:
        if MODE == "resume":
            print(json.dumps(resume(directory, PROCESSES)))
            return
        started = time.perf_counter()
        if LIBRARY == "ours":
            ours(directory, PROCESSES)
        else:
            pypet(directory, PROCESSES)
        seconds = time.perf_counter() - started
        (check_ours if LIBRARY == "ours" else check_pypet)(directory)
        print(json.dumps({"seconds": seconds, "runs_per_s": SIDE * SIDE / seconds}))
    finally:
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
