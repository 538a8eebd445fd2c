"""Provenance: which code, on which machine, from which command produced an experiment.

Git facts come from the ``git`` command run in the given repository; a repository with
uncommitted changes can be refused, so a result can always be traced to a commit.
"""

from __future__ import annotations

import getpass
import platform
import socket
import subprocess
import sys
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from ..errors import AtaraxisError

TRACKED_PACKAGES = ("ataraxis-like", "numpy", "h5py", "pyyaml", "psutil", "filelock")


class DirtyRepositoryError(AtaraxisError, RuntimeError):
    """The experiment asked for a clean repository and found uncommitted changes."""


class NotARepositoryError(AtaraxisError, FileNotFoundError):
    """The path given as the code's repository is not inside a git work tree."""


def _git(repository: Path, *arguments: str) -> str:
    completed = subprocess.run(
        ["git", "-C", str(repository), *arguments],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    if completed.returncode != 0:
        raise NotARepositoryError(
            f"{repository} is not inside a git work tree ({completed.stderr.strip()}); pass the "
            "repository of the code that runs, or repository=None",
            path=str(repository),
        )
    return completed.stdout


def git_state(repository: Path) -> dict[str, Any]:
    """Commit, branch and dirty flag (with the changed paths) of ``repository``."""
    commit = _git(repository, "rev-parse", "HEAD").strip()
    branch = _git(repository, "rev-parse", "--abbrev-ref", "HEAD").strip()
    status = _git(repository, "status", "--porcelain=v1", "-z")
    changes = [entry[3:] for entry in status.split("\0") if len(entry) > 3]
    return {
        "git_commit": commit,
        "git_branch": branch,
        "git_dirty": bool(changes),
        "git_changed_paths": changes,
        "git_repository": _git(repository, "rev-parse", "--show-toplevel").strip(),
    }


def package_versions(names: tuple[str, ...] = TRACKED_PACKAGES) -> dict[str, str]:
    versions = {}
    for name in names:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def collect(repository: Path | str | None, require_clean: bool = False) -> dict[str, Any]:
    """Everything known about the code and the machine, at the start of a run."""
    facts: dict[str, Any] = {
        "python_version": sys.version.split()[0],
        "python_executable": sys.executable,
        "platform": platform.platform(),
        "host": socket.gethostname(),
        "user": getpass.getuser(),
        "command_line": list(sys.argv),
        "packages": package_versions(),
        "start_time": utc_now(),
    }
    if repository is not None:
        state = git_state(Path(repository))
        if require_clean and state["git_dirty"]:
            shown = ", ".join(state["git_changed_paths"][:5])
            raise DirtyRepositoryError(
                f"repository {state['git_repository']} has uncommitted changes ({shown}); "
                "commit them or pass require_clean=False",
                paths=state["git_changed_paths"],
            )
        facts.update(state)
    return facts
