"""Provenance in a real temporary git repository."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ataraxis_like.experiment.provenance import (
    DirtyRepositoryError,
    NotARepositoryError,
    collect,
)

pytestmark = pytest.mark.timeout(30)


def git(repository: Path, *arguments: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repository), *arguments],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip


@pytest.fixture
def repository(tmp_path: Path) -> Path:
    git(tmp_path, "init", "-q", "-b", "analysis")
    git(tmp_path, "config", "user.email", "test@example.org")
    git(tmp_path, "config", "user.name", "test")
    (tmp_path / "model.py").write_text("x = 1\n")
    git(tmp_path, "add", "model.py")
    git(tmp_path, "commit", "-q", "-m", "first")
    return tmp_path


def test_clean_repository(repository: Path) -> None:
    facts = collect(repository, require_clean=True)
    assert facts["git_commit"] == git(repository, "rev-parse", "HEAD")
    assert len(facts["git_commit"]) == 40
    assert facts["git_branch"] == "analysis"
    assert facts["git_dirty"] is False
    assert facts["python_version"] == sys.version.split()[0]
    assert facts["packages"]["numpy"] != "not installed"
    assert facts["command_line"] == sys.argv
    assert facts["host"]
    assert facts["start_time"].endswith("+00:00")


def test_dirty_repository_is_flagged_or_refused(repository: Path) -> None:
    (repository / "model.py").write_text("x = 2\n")
    facts = collect(repository)
    assert facts["git_dirty"] is True
    assert facts["git_changed_paths"] == ["model.py"]
    with pytest.raises(DirtyRepositoryError, match=r"uncommitted changes \(model\.py\)"):
        collect(repository, require_clean=True)


def test_not_a_repository(tmp_path: Path) -> None:
    with pytest.raises(NotARepositoryError, match="not inside a git work tree"):
        collect(tmp_path / "nowhere")
    assert "git_commit" not in collect(None)


def test_a_sweep_commits_tracked_changes_first(
    repository: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    from ataraxis_like.experiment import Experiment, ExperimentResults, zipped

    from . import functions

    first = git(repository, "rev-parse", "HEAD")
    (repository / "model.py").write_text("x = 2\n")
    (repository / "notes.txt").write_text("new, untracked\n")
    directory = tmp_path_factory.mktemp("results")
    experiment = Experiment("sweep", directory, defaults={"x": 0}, exploration=zipped(x=[1, 2]),
                            repository=repository, git_message="try x = 2")  # fmt: skip
    experiment.run(functions.trivial)
    head = git(repository, "rev-parse", "HEAD")
    assert head != first
    assert (
        git(repository, "log", "-1", "--format=%s")
        == "try x = 2 (experiment 'sweep', before its sweep)"
    )
    assert git(repository, "show", "--name-only", "--format=", "HEAD") == "model.py"
    assert git(repository, "status", "--porcelain") == "?? notes.txt"  # new files: not added
    facts = ExperimentResults.load(directory).sessions[0]
    assert facts["git_commit"] == head
    assert facts["git_committed"] is True
    assert facts["environment_hash"] == head
    assert facts["environment_name"].startswith(f"environment_{head[:7]}_")
    experiment.run(functions.trivial)  # nothing tracked changed: no new commit
    assert git(repository, "rev-parse", "HEAD") == head
    assert ExperimentResults.load(directory).sessions[1]["git_committed"] is False


def test_a_dirty_tree_is_refused_before_anything_runs(
    repository: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    from ataraxis_like.experiment import DirtyRepositoryError, Experiment, zipped

    from . import functions

    (repository / "model.py").write_text("x = 3\n")
    directory = tmp_path_factory.mktemp("results")
    experiment = Experiment("strict", directory, defaults={"x": 0}, exploration=zipped(x=[1]),
                            repository=repository, require_clean=True)  # fmt: skip
    with pytest.raises(DirtyRepositoryError, match=r"uncommitted changes \(model\.py\)"):
        experiment.run(functions.trivial)
    assert not (directory / "results.h5").exists()
    assert git(repository, "status", "--porcelain") == "M model.py"
    committing = Experiment("strict", directory, defaults={"x": 0}, exploration=zipped(x=[1]),
                            repository=repository, require_clean=True, git_message="")  # fmt: skip
    assert committing.run(functions.trivial)["completed"] == 1  # committed, then clean


def test_a_failing_commit_is_reported(repository: Path) -> None:
    from ataraxis_like.experiment import GitCommitError

    (repository / "model.py").write_text("x = 4\n")
    git(repository, "config", "core.hooksPath", str(repository / "hooks"))
    (repository / "hooks").mkdir()
    hook = repository / "hooks" / "pre-commit"
    hook.write_text("#!/bin/sh\necho refused by hook >&2\nexit 1\n")
    hook.chmod(0o755)
    with pytest.raises(GitCommitError, match="refused by hook"):
        collect(repository, git_message="m", name="e")


def test_environment_name_without_git() -> None:
    facts = collect(None, name="e", comment="c")
    assert len(facts["environment_hash"]) == 40
    assert facts["environment_name"].startswith(f"environment_{facts['environment_hash'][:7]}_")
    assert facts["comment"] == "c"
    assert facts["timestamp"] > 0
