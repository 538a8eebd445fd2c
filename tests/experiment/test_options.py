"""run()'s options: keyword-only, the function's own arguments, logs and overview tables."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ataraxis_like.errors import AtaraxisError
from ataraxis_like.experiment import (
    Experiment,
    ExperimentArgumentError,
    ExperimentResults,
    cartesian_product,
    zipped,
)

from . import functions

pytestmark = pytest.mark.timeout(120)


def small(directory: Path) -> Experiment:
    return Experiment("o", directory, defaults={"x": 0}, exploration=zipped(x=[1, 2, 3]))


def test_positional_options_are_refused_with_the_fix(tmp_path: Path) -> None:
    experiment = small(tmp_path)
    with pytest.raises(ExperimentArgumentError, match=r"keyword-only .* args=\(2, 'extra',\)"):
        experiment.run(functions.trivial, 2, "extra")
    with pytest.raises(TypeError) as error:
        experiment.run(functions.trivial, 2)
    assert isinstance(error.value, AtaraxisError)
    for options in ({"processes": 0}, {"processes": "2"}, {"runs_per_task": 0}):
        with pytest.raises(ExperimentArgumentError, match="must be a positive int"):
            experiment.run(functions.trivial, **options)  # type: ignore[arg-type]
    with pytest.raises(ExperimentArgumentError, match="pass one of the two"):
        experiment.run(functions.trivial, processes=2, executor=object())
    with pytest.raises(ExperimentArgumentError, match=r"concurrent\.futures\.Executor"):
        experiment.run(functions.trivial, executor=object())
    assert not (tmp_path / "results.h5").exists() or experiment.pending() == [0, 1, 2]


@pytest.mark.parametrize("processes", [1, 2])
def test_function_arguments_reach_every_run(tmp_path: Path, processes: int) -> None:
    experiment = small(tmp_path)
    counts = experiment.run(functions.with_arguments, processes=processes, start_method="fork",
                            args=(10, 100), kwargs={"scale": 2})  # fmt: skip
    assert counts == {"completed": 3, "failed": 0, "skipped": 0}
    loaded = ExperimentResults.load(tmp_path)
    assert loaded.results("value")[1].tolist() == [222, 224, 226]
    assert loaded.results("label")[1].tolist() == ["run0", "run1", "run2"]


def test_main_and_warnings_logs_beside_the_run_logs(tmp_path: Path) -> None:
    experiment = Experiment("logs", tmp_path, defaults={"x": 0, "y": 0},
                            exploration=cartesian_product(x=range(3), y=range(3)))  # fmt: skip
    experiment.run(functions.simulate)
    main = (tmp_path / "logs" / "main.log").read_text()
    alerts = (tmp_path / "logs" / "warnings_and_errors.log").read_text()
    assert "session 0 (environment_" in main
    assert "9 of 9 runs stored" in main
    assert "session 0 ended: {'completed': 8, 'failed': 1, 'skipped': 0}" in main
    for text in (main, alerts):
        assert "run 5 failed: ValueError: x=1 and y=2 do not converge" in text
        assert "run 6: WARNING:" in text
        assert "RuntimeWarning: slow convergence" in text
    assert "started" not in alerts
    assert "runs stored" not in alerts
    assert sorted(path.name for path in (tmp_path / "logs").iterdir()) == [
        "main.log",
        *(f"run_0000{index}.log" for index in range(9)),
        "warnings_and_errors.log",
    ]  # every run logs here (simulate calls run.logger.info)
    quiet = Experiment("quiet", tmp_path / "quiet", defaults={"x": 0}, exploration=zipped(x=[1]))
    quiet.run(functions.trivial)
    assert sorted(path.name for path in (tmp_path / "quiet" / "logs").iterdir()) == [
        "main.log",
        "warnings_and_errors.log",
    ]  # a run that logs nothing makes no log file
    assert ExperimentResults.load(tmp_path / "quiet").log(0) == ""


def test_overview_tables_are_record_arrays(tmp_path: Path) -> None:
    experiment = Experiment("tables", tmp_path, defaults={"x": 0, "y": 0, "tag": "t"},
                            exploration=cartesian_product(x=range(3), y=range(3)))  # fmt: skip
    experiment.run(functions.simulate)
    loaded = ExperimentResults.load(tmp_path)
    overview = loaded.overview()
    assert isinstance(overview, np.recarray)
    assert overview.dtype.names == ("index", "x", "y", "tag", "status", "attempts", "started",
                                    "duration_s", "error")  # fmt: skip
    assert overview.index.tolist() == list(range(9))
    assert overview.status.tolist().count("failed") == 1
    assert overview.started.dtype == np.dtype("datetime64[us]")
    assert (overview.duration_s >= 0).all()
    explored = loaded.explored_parameters()
    assert explored.dtype.names == ("index", "x", "y")
    assert explored.x.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    per_run = loaded.results_per_run()
    assert per_run.dtype.names == ("index", "score")  # "trace" is an array: not a column
    assert per_run.index.tolist() == [0, 1, 2, 3, 4, 6, 7, 8]
    assert per_run.score.tolist() == [0, 1, 2, 10, 11, 20, 21, 22]
    summary = loaded.summary()
    assert summary.name.tolist() == ["score", "trace"]
    assert summary.runs.tolist() == [8, 8]
    assert summary.value_shape.tolist() == ["()", "(100,)"]
    with pytest.raises(ValueError, match="table must be one of"):
        loaded.to_pandas("runs")


def test_tables_as_pandas_frames(tmp_path: Path) -> None:
    pandas = pytest.importorskip("pandas")
    Experiment(
        "p",
        tmp_path,
        defaults={"x": 0, "y": 0},
        exploration=cartesian_product(x=range(3), y=range(3)),
    ).run(functions.simulate)
    loaded = ExperimentResults.load(tmp_path)
    frame = loaded.to_pandas("results_per_run")
    assert isinstance(frame, pandas.DataFrame)
    assert frame.loc[4, "score"] == 11
    assert loaded.to_pandas().loc[5, "status"] == "failed"
