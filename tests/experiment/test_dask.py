"""Runs on a real Dask cluster (LocalCluster of worker processes): results, killed workers,
a SIGKILL of the caller and resume."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from ataraxis_like.experiment import Experiment, ExperimentResults, zipped

from ..support.kill import kill_group
from . import functions
from .test_runner import launch_slow_experiment

distributed = pytest.importorskip("distributed")
dask = pytest.importorskip("dask")

pytestmark = pytest.mark.timeout(240)

# For clusters whose workers the tests kill. Each worker holds one task at a time (saturation
# 1.0), so a killed worker counts against the task it ran only, not against others queued on
# it; one death per task is retried. A LocalCluster closes a worker's nanny for good when, at
# lost-worker-timeout (15 s) after any death of that worker, the worker is away again (dead and
# restarting): a later kill 15 s on left the cluster one worker short (2 of 8 full runs under
# load; 22 kills in a row on one cluster here), so that check is put off beyond any test.
KILLABLE = {"distributed.scheduler.allowed-failures": 1,
            "distributed.scheduler.worker-saturation": 1.0,
            "distributed.deploy.lost-worker-timeout": "1h"}  # fmt: skip


@pytest.fixture(scope="module", autouse=True)
def _no_dask_thread_left() -> Iterator[None]:
    """Dask keeps a thread for its own offloaded work; it is stopped (and replaced by an idle
    pool that starts no thread until used) so that later tests in this process may fork. The
    in-process scheduler's sampling profiler (a thread of its own from Python 3.12 on, alive as
    long as its event loop object) is not started at all: a fork beside it may deadlock."""
    with dask.config.set({"distributed.worker.profile.enabled": False}):
        yield
    from concurrent.futures import ThreadPoolExecutor

    utils = distributed.utils
    utils._offload_executor.shutdown(wait=True)
    utils._offload_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="Dask-Offload")


@pytest.fixture(scope="module")
def client() -> Iterator[object]:
    """Two worker processes of one thread each (killed workers are restarted by their nanny)."""
    with dask.config.set(KILLABLE), \
            distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                     dashboard_address=":0") as cluster, \
            distributed.Client(cluster) as connected:  # fmt: skip
        yield connected


def test_runs_on_a_cluster_and_come_back_to_the_one_writer(tmp_path: Path, client: object) -> None:
    experiment = Experiment(
        "dask",
        tmp_path,
        defaults={"x": 0, "y": 0},
        exploration=[{"x": x, "y": y} for x in range(3) for y in range(3)],
    )
    counts = experiment.run(functions.simulate, executor=client, runs_per_task=2)
    assert counts == {"completed": 8, "failed": 1, "skipped": 0}
    loaded = ExperimentResults.load(tmp_path)
    assert loaded.results("score")[1].tolist() == [0, 1, 2, 10, 11, 20, 21, 22]
    assert loaded.results("trace")[1].shape == (8, 100)
    assert [record["loss"] for record in loaded.recorder(4).records] == [1.0, 0.5, 1 / 3]
    assert "x=1 and y=2 do not converge" in loaded.log(5)
    workers = set(client.run(os.getpid).values())  # type: ignore[attr-defined]
    assert set(loaded._source.table["pid"].tolist()) <= workers
    assert os.getpid() not in workers
    first = sorted(client.scheduler_info()["workers"])[0]  # type: ignore[attr-defined]
    pinned = client.get_executor(workers=[first])  # type: ignore[attr-defined]
    same = Experiment(
        "dask", tmp_path / "executor", defaults={"x": 0}, exploration=zipped(x=[1, 2, 3, 4])
    )
    assert same.run(functions.trivial, executor=pinned, runs_per_task=1)["completed"] == 4
    pids = set(ExperimentResults.load(tmp_path / "executor")._source.table["pid"].tolist())
    assert pids == {client.run(os.getpid, workers=[first])[first]}  # type: ignore[attr-defined]


def test_a_worker_killed_mid_run_is_retried_by_dask(tmp_path: Path, client: object) -> None:
    gate = tmp_path / "died"
    experiment = Experiment("retry", tmp_path / "exp", defaults={"x": 0, "gate": str(gate)},
                            exploration=zipped(x=list(range(8))))  # fmt: skip
    counts = experiment.run(functions.dies_once, executor=client)
    assert gate.exists(), "no worker was killed"
    loaded = ExperimentResults.load(tmp_path / "exp")
    errors = [(row["index"], row["error"]) for row in loaded.runs if row["error"]]
    assert counts == {"completed": 8, "failed": 0, "skipped": 0}, errors
    assert loaded.results("y")[1].tolist() == [2.0 * x for x in range(8)]
    assert loaded.overview().attempts.tolist() == [1] * 8, "a run was stored twice"


def test_a_result_lost_with_its_worker_is_computed_again_not_failed(tmp_path: Path) -> None:
    """A worker killed just after it finished a task loses that task's result, possibly while
    the caller is receiving it. Dask computes it again; the run is stored once, completed,
    whether the client or its ``get_executor()`` was passed. (Through Dask's
    ``concurrent.futures`` face such a task could fail with a ValueError: Dask read the lost
    status after the result came and took the result for an error. That race is rare at this
    scale, 2 to 6 of 96 kills in a 40-task stress of the bare executor, and the likeliest
    cause of this module's two CI failures. ``run`` no longer goes through that face.)"""
    with dask.config.set(KILLABLE), \
            distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                     dashboard_address=":0") as cluster, \
            distributed.Client(cluster) as client:  # fmt: skip
        for kill in range(8):
            client.wait_for_workers(2, timeout=60)
            exploration = zipped(x=list(range(16)))
            gate = str(tmp_path / f"{kill}")
            defaults = {"x": 0, "killer": 8, "delay": kill / 2000, "gate": gate}
            experiment = Experiment("lost", tmp_path / f"exp{kill}", defaults=defaults,
                                    exploration=exploration)  # fmt: skip
            executor = client.get_executor() if kill % 2 else client
            counts = experiment.run(functions.dies_once_late, executor=executor)
            assert Path(gate).exists(), "no worker was killed"
            loaded = ExperimentResults.load(tmp_path / f"exp{kill}")
            errors = [(row["index"], row["error"]) for row in loaded.runs if row["error"]]
            assert counts == {"completed": 16, "failed": 0, "skipped": 0}, (kill, errors)
            assert loaded.overview().attempts.tolist() == [1] * 16, "a run was stored twice"


def test_a_run_that_kills_every_worker_fails_alone(tmp_path: Path, client: object) -> None:
    """Dask gives up on a task that killed ``allowed-failures`` workers (KilledWorker): that
    run is stored as failed, the others complete. (The killer waits for the others: a run
    queued on the worker it kills would be charged that death too, by Dask's rule.)"""
    marks = tmp_path / "marks"
    marks.mkdir()
    experiment = Experiment("killer", tmp_path / "exp", defaults={"x": 0, "marks": str(marks)},
                            exploration=zipped(x=list(range(6))))  # fmt: skip
    counts = experiment.run(functions.dies_on_three_last, executor=client)
    assert counts == {"completed": 5, "failed": 1, "skipped": 0}
    rows = {row["index"]: row for row in ExperimentResults.load(tmp_path / "exp").runs}
    assert "KilledWorker" in rows[3]["error"]
    client.wait_for_workers(2, timeout=60)  # the nanny has restarted the killed worker


def test_sigkill_of_the_caller_then_resume_on_a_new_cluster(tmp_path: Path) -> None:
    directory = tmp_path / "exp"
    (tmp_path / "cluster.py").write_text(
        textwrap.dedent("""
        from distributed import Client, LocalCluster
        def client():
            cluster = LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=":0")
            return Client(cluster)
    """)
    )
    arguments = "executor=__import__('cluster').client()"
    os.environ["PYTHONPATH"] = f"{tmp_path}:{os.environ.get('PYTHONPATH', '')}"
    try:
        process = launch_slow_experiment(tmp_path, directory, "resume", 40, arguments)
    finally:
        os.environ["PYTHONPATH"] = os.environ["PYTHONPATH"].split(":", 1)[1]
    kill_group(process.pid)  # the caller, its scheduler and its workers
    process.wait()
    experiment = Experiment("resume", directory, defaults={"x": 0},
                            exploration=zipped(x=list(range(40))))  # fmt: skip
    before = experiment.pending()
    assert 0 < len(before) < 40
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1,
                                  dashboard_address=":0") as cluster, \
            distributed.Client(cluster) as client:  # fmt: skip
        counts = experiment.run(functions.slow, executor=client)
    assert counts == {"completed": len(before), "failed": 0, "skipped": 40 - len(before)}
    loaded = ExperimentResults.load(directory)
    assert loaded.counts() == {"completed": 40}
    assert loaded.overview().attempts.tolist() == [1] * 40, "a run was stored twice"
    assert loaded.results("score")[1].tolist() == list(range(40))
