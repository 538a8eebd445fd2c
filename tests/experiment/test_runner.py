"""Experiments end to end: processes, failures, retries, kills and resume, provenance, loading."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import types
from pathlib import Path

import numpy as np
import pytest

from ataraxis_like.experiment import (
    Experiment,
    ExperimentError,
    ExperimentResults,
    _pool,
    cartesian_product,
    zipped,
)

from . import functions

pytestmark = pytest.mark.timeout(180)


def completed_live(path: Path) -> int:
    """Runs marked completed in a results file that its writer may still be writing."""
    from ataraxis_like.hdf5 import open_sink

    if not path.exists():
        return 0
    try:
        with open_sink(path) as reader:
            runs = reader.file.get("runs")
            return 0 if runs is None else int((runs["status"] == 1).sum())
    except (OSError, KeyError, ValueError):
        return 0  # the writer is still creating the file


def launch_slow_experiment(
    tmp_path: Path, directory: Path, name: str, runs: int, arguments: str = ""
) -> subprocess.Popen[str]:
    """Start ``functions.slow`` over ``runs`` values of x in a new process group (it prints its
    counts when done); return once a few runs are in its results file, read live."""
    script = tmp_path / "launch.py"
    script.write_text(
        textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(Path(__file__).resolve().parents[2])!r})
        from tests.experiment import functions
        from ataraxis_like.experiment import Experiment, zipped
        if __name__ == "__main__":
            experiment = Experiment({name!r}, {str(directory)!r}, defaults={{"x": 0}},
                                    exploration=zipped(x=list(range({runs}))))
            print(experiment.run(functions.slow, {arguments}))
    """)
    )
    process = subprocess.Popen(
        [sys.executable, str(script)], start_new_session=True, stdout=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 120
    while completed_live(directory / "results.h5") < 3:  # read live, as SWMR allows
        assert time.monotonic() < deadline, "the experiment never got going"
        assert process.poll() is None, "the experiment ended too soon"
        time.sleep(0.01)
    return process


def grid(directory: Path) -> Experiment:
    return Experiment(
        "grid", directory, defaults={"x": 0, "y": 0},
        exploration=cartesian_product(x=range(3), y=range(3)),
    )  # fmt: skip


@pytest.mark.parametrize(
    ("processes", "start_method"), [(1, "spawn"), (2, "spawn"), (2, "fork"), (2, "forkserver")]
)
def test_results_failures_logs_and_loading(
    tmp_path: Path, processes: int, start_method: str
) -> None:
    experiment = grid(tmp_path)
    counts = experiment.run(functions.simulate, processes=processes, start_method=start_method)
    assert counts == {"completed": 8, "failed": 1, "skipped": 0}
    loaded = Experiment.load(tmp_path)
    assert isinstance(loaded, ExperimentResults)
    assert loaded.name == "grid"
    assert loaded.counts() == {"completed": 8, "failed": 1}
    rows = {row["index"]: row for row in loaded.overview()}
    assert (rows[5]["x"], rows[5]["y"], rows[5]["status"]) == (1, 2, "failed")
    assert "ValueError: x=1 and y=2 do not converge" in rows[5]["error"]
    assert rows[0]["error"] == ""
    assert all(row["duration_s"] >= 0 for row in rows.values())
    indices, scores = loaded.results("score")
    assert indices.tolist() == [0, 1, 2, 3, 4, 6, 7, 8]
    assert scores.tolist() == [0, 1, 2, 10, 11, 20, 21, 22]
    indices, traces = loaded.results("trace")
    assert traces.shape == (8, 100)
    recorder = loaded.recorder(4)
    assert next(dict(record) for record in recorder.records)["x"] == 1
    assert [record["loss"] for record in recorder.records] == [1.0, 0.5, 1 / 3]
    assert "failed" in loaded.log(5)
    assert "x=1 and y=2 do not converge" in loaded.log(5)
    assert "RuntimeWarning: slow convergence" in loaded.log(6)
    assert loaded.sessions[0]["command_line"] == sys.argv
    assert loaded.sessions[0]["end_time"]


def test_rerun_skips_done_and_retry_failed_reruns_only_failed(tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    experiment = Experiment(
        "flaky", tmp_path / "exp", defaults={"x": 0, "gate": str(gate)},
        exploration=zipped(x=[1, 2, 3]),
    )  # fmt: skip
    assert experiment.run(functions.flaky) == {"completed": 0, "failed": 3, "skipped": 0}
    assert experiment.run(functions.flaky) == {"completed": 0, "failed": 0, "skipped": 3}
    gate.touch()
    assert experiment.pending(retry_failed=True) == [0, 1, 2]
    counts = experiment.run(functions.flaky, retry_failed=True)
    assert counts == {"completed": 3, "failed": 0, "skipped": 0}
    loaded = ExperimentResults.load(tmp_path / "exp")
    assert loaded.results("result")[1].tolist() == [2, 4, 6]
    assert len(loaded.sessions) == 3


@pytest.mark.parametrize("processes", [1, 2])
def test_results_the_file_refuses_fail_only_their_run(tmp_path: Path, processes: int) -> None:
    experiment = Experiment("clash", tmp_path, defaults={"x": 0},
                            exploration=zipped(x=[0, 1, 2]))  # fmt: skip
    counts = experiment.run(functions.clashing, processes=processes)
    assert counts == {"completed": 2, "failed": 1, "skipped": 0}
    loaded = ExperimentResults.load(tmp_path)
    rows = {row["index"]: row for row in loaded.overview()}
    assert rows[1]["status"] == "failed"
    assert rows[1]["error"].startswith("the run's results could not be stored: ")
    assert "'results/a'" in rows[1]["error"]
    indices, values = loaded.results("a")
    assert indices.tolist() == [0, 2]
    assert values.tolist() == [0.0, 2.0]


def test_changed_space_is_refused(tmp_path: Path) -> None:
    grid(tmp_path).run(functions.simulate)
    other = Experiment("grid", tmp_path, defaults={"x": 0, "y": 0},
                       exploration=cartesian_product(x=range(4), y=range(3)))  # fmt: skip
    with pytest.raises(ExperimentError, match="different parameter space"):
        other.run(functions.simulate)


@pytest.mark.parametrize("start_method", ["spawn", "fork"])
def test_killed_worker_fails_its_run_only(tmp_path: Path, start_method: str) -> None:
    experiment = Experiment("dies", tmp_path, defaults={"x": 0},
                            exploration=zipped(x=list(range(6))))  # fmt: skip
    counts = experiment.run(functions.dies_on_three, processes=2, start_method=start_method)
    assert counts == {"completed": 5, "failed": 1, "skipped": 0}
    rows = {row["index"]: row for row in ExperimentResults.load(tmp_path).overview()}
    assert "died (exit code -9)" in rows[3]["error"]


@pytest.mark.parametrize(
    ("processes", "start_method"), [(1, "spawn"), (2, "spawn"), (2, "fork"), (2, "forkserver")]
)
def test_sigkill_of_whole_experiment_then_resume(
    tmp_path: Path, processes: int, start_method: str
) -> None:
    directory = tmp_path / "exp"
    arguments = f"processes={processes}, start_method={start_method!r}"
    process = launch_slow_experiment(tmp_path, directory, "resume", 40, arguments)
    os.killpg(process.pid, signal.SIGKILL)  # the parent, its workers and the sink's writer
    process.wait()
    experiment = Experiment("resume", directory, defaults={"x": 0},
                            exploration=zipped(x=list(range(40))))  # fmt: skip
    before = experiment.pending()
    assert 0 < len(before) < 40
    counts = experiment.run(functions.slow, processes=processes, start_method=start_method)
    assert counts["completed"] == len(before)
    assert counts["skipped"] == 40 - len(before)
    loaded = ExperimentResults.load(directory)
    assert loaded.counts() == {"completed": 40}
    indices, scores = loaded.results("score")
    assert indices.tolist() == list(range(40))
    assert scores.tolist() == list(range(40))
    indices, arrays = loaded.results("array")
    np.testing.assert_array_equal(arrays, np.arange(1000.0)[None, :] * np.arange(40)[:, None])
    for index in range(40):
        assert len(loaded.recorder(index).records) == 3, f"run {index} duplicated records"


def test_provenance_in_a_git_repository(tmp_path: Path) -> None:
    repository = tmp_path / "code"
    repository.mkdir()
    for command in (["init", "-q"], ["config", "user.email", "t@example.org"],
                    ["config", "user.name", "t"]):  # fmt: skip
        subprocess.run(["git", "-C", str(repository), *command], check=True)
    (repository / "model.py").write_text("x = 1\n")
    subprocess.run(["git", "-C", str(repository), "add", "."], check=True)
    subprocess.run(["git", "-C", str(repository), "commit", "-q", "-m", "m"], check=True)
    head = subprocess.run(["git", "-C", str(repository), "rev-parse", "HEAD"],
                          capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    experiment = Experiment("p", tmp_path / "exp", defaults={"x": 0},
                            exploration=zipped(x=[1]), repository=repository,
                            require_clean=True)  # fmt: skip
    experiment.run(functions.dies_on_three)
    facts = ExperimentResults.load(tmp_path / "exp").sessions[0]
    assert facts["git_commit"] == head
    assert facts["git_dirty"] is False
    assert facts["packages"]["ataraxis-like"]
    (repository / "model.py").write_text("x = 2\n")
    from ataraxis_like.experiment import DirtyRepositoryError

    with pytest.raises(DirtyRepositoryError, match="uncommitted changes"):
        experiment.run(functions.dies_on_three)


def test_function_workers_cannot_import_is_refused(tmp_path: Path) -> None:
    experiment = Experiment("lambda", tmp_path, defaults={"x": 0},
                            exploration=zipped(x=[1, 2]))  # fmt: skip
    with pytest.raises(ExperimentError, match="cannot be pickled"):
        experiment.run(lambda run: run.x, processes=2)
    module = types.ModuleType("made_in_the_parent_only")
    exec("def square(run):\n    return run.x ** 2\n", module.__dict__)
    sys.modules[module.__name__] = module
    try:
        with pytest.raises(ExperimentError, match="before it was ready"):
            experiment.run(module.square, processes=2)
    finally:
        del sys.modules[module.__name__]
    assert experiment.run(module.square) == {"completed": 2, "failed": 0, "skipped": 0}


def test_forked_workers_do_not_hold_the_results_file(tmp_path: Path) -> None:
    """Forked workers start before the file opens: a copy holding its HDF5 handles could write
    to it when they are freed."""
    experiment = Experiment("fds", tmp_path, defaults={"x": 0},
                            exploration=zipped(x=[1, 2, 3, 4]))  # fmt: skip
    assert experiment.run(functions.results_file_descriptors, processes=2,
                          start_method="fork")["completed"] == 4  # fmt: skip
    _, held = ExperimentResults.load(tmp_path).results("result")
    assert held.tolist() == [0, 0, 0, 0]
    experiment = Experiment("fds", tmp_path / "in_process", defaults={"x": 0},
                            exploration=zipped(x=[1]))  # fmt: skip
    experiment.run(functions.results_file_descriptors)  # the check itself sees an open file
    _, held = ExperimentResults.load(tmp_path / "in_process").results("result")
    assert held.tolist() == [1]


def test_start_method_is_checked(tmp_path: Path) -> None:
    experiment = Experiment("methods", tmp_path, defaults={"x": 0}, exploration=zipped(x=[1, 2]))
    with pytest.raises(ExperimentError, match="start_method must be one of"):
        experiment.run(functions.dies_on_three, processes=2, start_method="thread")
    release = threading.Event()
    other = threading.Thread(target=release.wait, args=(30,))
    other.start()
    try:
        with pytest.raises(ExperimentError, match="other threads run in it"):
            experiment.run(functions.dies_on_three, processes=2, start_method="fork")
    finally:
        release.set()
        other.join(30)
    assert not (tmp_path / "results.h5").exists(), "a refused run must not start"
    counts = experiment.run(functions.dies_on_three, processes=2, start_method="fork")
    assert counts == {"completed": 2, "failed": 0, "skipped": 0}


@pytest.mark.parametrize("processes", [1, 2])
def test_a_retried_run_reads_back_only_what_its_last_attempt_stored(
    tmp_path: Path, processes: int
) -> None:
    gate = tmp_path / "gate"
    experiment = Experiment("retry", tmp_path / "exp", defaults={"x": 0, "gate": str(gate)},
                            exploration=zipped(x=[0, 1, 2]))  # fmt: skip
    first = experiment.run(functions.clashing_then_fine, processes=processes)
    assert first == {"completed": 2, "failed": 1, "skipped": 0}  # run 1 stored "a", then clashed
    gate.touch()
    again = experiment.run(functions.clashing_then_fine, processes=processes, retry_failed=True)
    assert again == {"completed": 1, "failed": 0, "skipped": 2}
    loaded = ExperimentResults.load(tmp_path / "exp")
    indices, values = loaded.results("a")
    assert indices.tolist() == [0, 2], "run 1's value of 'a' is from its failed attempt"
    assert values.tolist() == [0.0, 2.0]
    indices, values = loaded.results("c")
    assert indices.tolist() == [1]
    assert values.tolist() == [1.0]
    with pytest.raises(ExperimentError, match="recorded nothing"):
        loaded.recorder(1)


def test_a_second_run_on_a_directory_in_use_waits_and_repeats_nothing(tmp_path: Path) -> None:
    """A run started while another writes the same directory waits for the file's writer lock,
    then decides what to run: the runs the other finished meanwhile are not run again."""
    directory = tmp_path / "exp"
    first = launch_slow_experiment(tmp_path, directory, "busy", 30)
    second = Experiment("busy", directory, defaults={"x": 0}, exploration=zipped(x=list(range(30))))
    assert second.run(functions.slow, processes=2) == {"completed": 0, "failed": 0, "skipped": 30}
    output, _ = first.communicate(timeout=120)
    assert first.returncode == 0
    assert "'completed': 30" in output
    loaded = ExperimentResults.load(directory)
    assert loaded.counts() == {"completed": 30}
    assert loaded.results("score")[1].tolist() == list(range(30))
    assert loaded.overview().attempts.tolist() == [1] * 30, "a run was executed twice"


@pytest.mark.timeout(120)
def test_more_orders_than_the_order_queue_holds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Orders wait in the parent while the workers' queue is full, and the parent keeps
    storing results meanwhile (small queues on both sides: it stalled when it put all first)."""
    monkeypatch.setattr(_pool, "ORDERS_BYTES", 2048)
    experiment = Experiment("many", tmp_path, defaults={"x": 0},
                            exploration=zipped(x=list(range(300))), queue_bytes=32768)  # fmt: skip
    counts = experiment.run(functions.quick_array, processes=2, start_method="fork")
    assert counts == {"completed": 300, "failed": 0, "skipped": 0}
    indices, arrays = ExperimentResults.load(tmp_path).results("array")
    assert indices.tolist() == list(range(300))
    assert arrays[:, 0].tolist() == [float(x) for x in range(300)]


def test_fork_started_runs_back_to_back(tmp_path: Path) -> None:
    """Nothing an experiment starts outlives its run: the next fork-started run is not refused."""
    for attempt in range(4):
        experiment = Experiment("again", tmp_path / str(attempt), defaults={"x": 0},
                                exploration=zipped(x=[1, 2, 3]))  # fmt: skip
        counts = experiment.run(functions.quick_array, processes=2, start_method="fork")
        assert counts == {"completed": 3, "failed": 0, "skipped": 0}, attempt
