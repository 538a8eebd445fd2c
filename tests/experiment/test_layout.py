"""The results layout: per-run cost, results that do not fit a column, files of layout 1."""

from __future__ import annotations

import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

from ataraxis_like.experiment import (
    Experiment,
    ExperimentError,
    ExperimentResults,
    upgrade,
    zipped,
)

from . import functions

pytestmark = pytest.mark.timeout(120)
FIXTURE = Path(__file__).parent / "fixtures" / "layout1"


def test_one_table_row_per_run_and_columns_not_groups(tmp_path: Path) -> None:
    experiment = Experiment("t", tmp_path, defaults={"x": 0}, exploration=zipped(x=range(2000)))
    assert experiment.run(functions.trivial) == {"completed": 2000, "failed": 0, "skipped": 0}
    with h5py.File(tmp_path / "results.h5", "r") as handle:
        assert handle.attrs["layout"] == 2
        assert handle["runs"].shape == (2000,)
        assert sorted(handle) == ["exploration", "results", "runs"]
        assert list(handle["results"]) == ["y"]
        assert handle["results/y"].shape == (2000,)
    assert (tmp_path / "results.h5").stat().st_size < 2000 * 1024, "more than 1 KB per run"
    indices, values = ExperimentResults.load(tmp_path).results("y")
    assert indices.tolist() == list(range(2000))
    assert values.tolist() == [2.0 * x for x in range(2000)]


@pytest.mark.parametrize("processes", [1, 2])
def test_results_that_vary_between_runs(tmp_path: Path, processes: int) -> None:
    experiment = Experiment("m", tmp_path, defaults={"x": 0}, exploration=zipped(x=range(4)))
    counts = experiment.run(functions.mixed_results, processes=processes, start_method="fork")
    assert counts == {"completed": 4, "failed": 0, "skipped": 0}
    loaded = ExperimentResults.load(tmp_path)
    assert loaded.result_names() == ["nested/a", "nested/b/c", "number", "ragged", "text",
                                     "words"]  # fmt: skip
    indices, ragged = loaded.results("ragged")
    assert indices.tolist() == [0, 1, 2, 3]
    assert [value.tolist() for value in ragged] == [[0.0], [0.0, 1.0], [0, 1, 2], [0, 1, 2, 3]]
    assert loaded.results("number")[1].tolist() == [0, 1, 1.5, 3]
    assert loaded.results("text")[1].tolist() == ["t0", "t1", "t2", "t3"]
    assert [list(words) for words in loaded.results("words")[1]] == [["a"], ["a", "b"]] * 2
    assert loaded.results("nested/b/c")[1].tolist() == [0.0, 0.5, 1.0, 1.5]
    per_run = loaded.results_per_run()
    assert per_run.index.tolist() == [0, 1, 2, 3]
    assert per_run["nested/a"].tolist() == [0, 1, 2, 3]
    assert per_run.text.tolist() == ["t0", "t1", "t2", "t3"]


def test_rows_a_killed_writer_left_unwritten_are_not_runs(tmp_path: Path) -> None:
    """A row of zeros (the table grew, its data never came) and result rows of an attempt
    without a table row are ignored; resuming runs those runs again."""
    experiment = Experiment("z", tmp_path, defaults={"x": 0}, exploration=zipped(x=range(5)))
    experiment.run(functions.trivial)
    with h5py.File(tmp_path / "results.h5", "r+") as handle:
        table = handle["runs"]
        rows = table[()]
        table.resize((7,))
        table[3:5] = np.zeros(2, dtype=table.dtype)  # runs 3 and 4: rows never written
        table[5:7] = rows[0:2]  # runs 0 and 1 stay done
        results = handle["results/y"]
        results.resize((6,))
        results[5] = (rows[3]["attempt"] + 1000, 99.0)  # an attempt that never got its row
    assert experiment.pending() == [3, 4]
    assert experiment.run(functions.trivial) == {"completed": 2, "failed": 0, "skipped": 3}
    loaded = ExperimentResults.load(tmp_path)
    assert loaded.results("y")[1].tolist() == [0.0, 2.0, 4.0, 6.0, 8.0]


def test_compression_and_comment(tmp_path: Path) -> None:
    experiment = Experiment("c", tmp_path, defaults={"x": 0}, exploration=zipped(x=range(20)),
                            compression=4, comment="first try")  # fmt: skip
    experiment.run(functions.quick_array)
    with h5py.File(tmp_path / "results.h5", "r") as handle:
        assert handle["runs"].compression == "gzip"
        assert handle["results/array"].compression_opts == 4
    loaded = ExperimentResults.load(tmp_path)
    assert loaded.comment == "first try"
    assert loaded.sessions[0]["comment"] == "first try"
    with pytest.raises(ValueError, match="compression must be"):
        Experiment("c", tmp_path, compression="zstd-max")


def copy_fixture(tmp_path: Path) -> Path:
    target = tmp_path / "old"
    shutil.copytree(FIXTURE, target)
    return target


def check_layout1_content(loaded: ExperimentResults) -> None:
    assert loaded.name == "old"
    assert loaded.counts() == {"completed": 3, "failed": 1}
    rows = {row["index"]: row for row in loaded.overview()}
    assert rows[2]["status"] == "failed"
    assert "ValueError: x=2 does not converge" in rows[2]["error"]
    assert (rows[1]["x"], rows[1]["name"]) == (1, "a")
    assert loaded.results("score")[1].tolist() == [0, 10, 30]
    assert loaded.results("trace")[1].tolist() == [[0.0] * 4, [1.0] * 4, [3.0] * 4]
    assert loaded.results("label")[1].tolist() == ["x0", "x1", "x3"]
    assert [record["loss"] for record in loaded.recorder(3).records] == [3.0, 1.5, 1.0]
    assert "RuntimeWarning: slow convergence" in loaded.log(3)
    assert loaded.sessions[0]["end_time"]


def test_layout1_files_load_and_upgrade(tmp_path: Path) -> None:
    directory = copy_fixture(tmp_path)
    loaded = ExperimentResults.load(directory)
    assert loaded.layout == 1
    check_layout1_content(loaded)
    experiment = Experiment("old", directory, defaults={"x": 0, "name": "a"},
                            exploration=zipped(x=[0, 1, 2, 3]))  # fmt: skip
    with pytest.raises(ExperimentError, match=r"layout 1 .*upgrade\("):
        experiment.run(functions.trivial)
    with pytest.raises(ExperimentError, match="layout 1"):
        experiment.pending()
    old = upgrade(directory)
    assert old.name == "results.layout1.h5"
    assert old.exists()
    upgraded = ExperimentResults.load(directory)
    assert upgraded.layout == 2
    check_layout1_content(upgraded)
    with pytest.raises(ExperimentError, match="not layout 1"):
        upgrade(directory)
    assert experiment.pending(retry_failed=True) == [2]
    counts = experiment.run(functions.trivial, retry_failed=True)
    assert counts == {"completed": 1, "failed": 0, "skipped": 3}
    again = ExperimentResults.load(directory)
    assert again.counts() == {"completed": 4}
    assert again.results("y")[0].tolist() == [2]
    assert len(again.sessions) == 3  # the old one, the upgrade, this run
    assert again.sessions[1]["upgraded_from_layout"] == 1
