"""Running a scenario with a ``/dev/shm`` of its own.

The library removes dead creators' segments whenever any process creates or attaches one, so a
test that needs a stale segment to stay put until it looks (or that checks who reclaimed it)
races every other process of the same user on the machine, other test runs included. Inside a
private mount namespace with a fresh tmpfs on ``/dev/shm`` nothing else can see or reclaim what
the scenario makes. Needs ``unshare`` (util-linux) and root, or unprivileged user namespaces.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_MOUNT = 'mount -t tmpfs -o size=1g,mode=1777 tmpfs /dev/shm && exec "$0" "$@"'


def _prefix() -> list[str]:
    if shutil.which("unshare") is None:
        pytest.skip("a private /dev/shm needs unshare (util-linux)")
    user = [] if os.geteuid() == 0 else ["--user", "--map-root-user"]
    return ["unshare", *user, "--mount", "--propagation", "private", "--", "sh", "-c", _MOUNT]


def run_private(function: Callable[[], object], timeout: float = 90) -> str:
    """Run ``function`` (defined at module level under tests/) in a fresh interpreter with a
    private /dev/shm; it must return normally. Returns what it printed."""
    probe = subprocess.run([*_prefix(), "true"], capture_output=True, text=True, check=False)
    if probe.returncode != 0:
        pytest.skip(f"cannot mount a private /dev/shm here: {probe.stderr.strip()}")
    call = f"import {function.__module__} as m; m.{function.__name__}()"
    result = subprocess.run(
        [*_prefix(), sys.executable, "-c", call],
        capture_output=True, text=True, timeout=timeout, check=False, cwd=ROOT,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout
