"""Provenance: which code, on which machine, from which command produced an experiment.

Git facts come from the ``git`` command run in the given repository. Before a sweep the
tracked changes can be committed (``git add -u`` and ``git commit`` with a message), and a
repository with uncommitted changes can be refused, so a result can always be traced to a
commit. Every session gets an environment name (a hash and a timestamp) as pypet gives its
environments.
"""

from __future__ import annotations

import getpass
import hashlib
import platform
import socket
import subprocess
import sys
import time
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


class GitCommitError(AtaraxisError, RuntimeError):
    """The commit asked for before the sweep failed (git's own message is given)."""


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


def commit_tracked(repository: Path, message: str) -> bool:
    """Commit every change of a tracked file (``git add -u``; new files are left alone, as
    ``git commit -a`` does); False when there was nothing to commit."""
    _git(repository, "add", "-u")
    staged = subprocess.run(["git", "-C", str(repository), "diff", "--cached", "--quiet"],
                            check=False, timeout=30)  # fmt: skip
    if staged.returncode == 0:
        return False
    done = subprocess.run(["git", "-C", str(repository), "commit", "-q", "-m", message],
                          capture_output=True, text=True, check=False, timeout=60)  # fmt: skip
    if done.returncode != 0:
        raise GitCommitError(
            f"git commit in {repository} failed ({(done.stderr or done.stdout).strip()}); fix "
            "the repository (e.g. set user.name and user.email) or leave out git_message",
            path=str(repository),
        )
    return True


def environment(name: str, commit: str | None, now: float) -> dict[str, Any]:
    """A session's identity: a SHA-1 (the git commit when there is one, else a hash of the
    experiment's name, the time and our version) and a name made of it and the time."""
    if commit is None:
        seed = f"{name} {now!r} {package_versions(('ataraxis-like',))['ataraxis-like']}"
        commit = hashlib.sha1(seed.encode("utf-8")).hexdigest()
    stamp = time.strftime("%Y_%m_%d_%Hh%Mm%Ss", time.localtime(now))
    return {"environment_hash": commit, "environment_name": f"environment_{commit[:7]}_{stamp}",
            "timestamp": now}  # fmt: skip


def collect(
    repository: Path | str | None,
    require_clean: bool = False,
    *,
    git_message: str | None = None,
    name: str = "",
    comment: str = "",
) -> dict[str, Any]:
    """Everything known about the code and the machine, at the start of a run.

    ``git_message`` commits the repository's tracked changes first, with that message and the
    experiment's name; ``require_clean`` then refuses any change left (new files included).
    """
    now = time.time()
    facts: dict[str, Any] = {
        "python_version": sys.version.split()[0],
        "python_executable": sys.executable,
        "platform": platform.platform(),
        "host": socket.gethostname(),
        "user": getpass.getuser(),
        "command_line": list(sys.argv),
        "packages": package_versions(),
        "start_time": utc_now(),
        "comment": comment,
    }
    commit = None
    if repository is not None:
        if git_message is not None:
            text = f"{git_message} (experiment {name!r}, before its sweep)".lstrip()
            facts["git_committed"] = commit_tracked(Path(repository), text)
        state = git_state(Path(repository))
        if require_clean and state["git_dirty"]:
            shown = ", ".join(state["git_changed_paths"][:5])
            raise DirtyRepositoryError(
                f"repository {state['git_repository']} has uncommitted changes ({shown}); "
                "commit them or pass require_clean=False",
                paths=state["git_changed_paths"],
            )
        facts.update(state)
        commit = state["git_commit"]
    facts.update(environment(name, commit, now))
    return facts
