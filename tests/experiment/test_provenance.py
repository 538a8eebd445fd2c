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
