"""The check that every test module leaves no segment and no child process behind.

Other test runs may share this machine, so it counts only what this run made: each pytest
process labels its segments (``ATARAXIS_LIKE_SHM_LABEL``, inherited by every process it starts,
recorded in each segment's header: docs/shared-memory.md), and looks at its own children only.
Usable as a plugin on its own: ``pytest -p tests.support.leftovers``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import psutil
import pytest

from ataraxis_like.shm import list_segments
from ataraxis_like.shm._census import reclaim_stale
from ataraxis_like.shm._header import LABEL_VARIABLE
from ataraxis_like.shm._names import segment_path
from tests.support.processes import LONG_LIVED

_EXIT_GRACE_SECONDS = 10.0
"""How long a child told to stop may take to exit before it counts as left behind."""


def pytest_configure(config: pytest.Config) -> None:
    """Give this pytest process (the controller and each xdist worker) a label of its own."""
    os.environ[LABEL_VARIABLE] = f"pytest-{os.getpid()}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module", autouse=True)
def leaves_nothing_behind() -> Iterator[None]:
    """After each module: no child process of ours runs, and no segment this process or its
    descendants made remains once the library has reclaimed those of dead creators (a child
    SIGKILLed with its segments is covered: the label outlives it)."""
    yield
    problems = []
    children = [
        child
        for child in psutil.Process().children(recursive=True)
        if child.pid not in LONG_LIVED and not _multiprocessing_helper(child)
    ]
    _, running = psutil.wait_procs(children, timeout=_EXIT_GRACE_SECONDS)
    if running:
        problems.append(f"child processes still running: {_describe(running)}")
        for child in running:
            child.kill()
        psutil.wait_procs(running, timeout=_EXIT_GRACE_SECONDS)
    reclaim_stale(force=True)
    left = list_segments(label=os.environ[LABEL_VARIABLE])
    if left:
        rows = [f"{info.name} ({info.kind}, {info.state}, creator {info.creator_pid})"
                for info in left]  # fmt: skip
        problems.append(f"segments left behind: {', '.join(rows)}")
        for info in left:
            segment_path(info.name).unlink(missing_ok=True)
    if problems:
        pytest.fail("this module " + "; ".join(problems), pytrace=False)


def _multiprocessing_helper(process: psutil.Process) -> bool:
    """multiprocessing's resource tracker and fork server: started once, kept for the run."""
    try:
        command = " ".join(process.cmdline())
    except psutil.Error:
        return False
    return "resource_tracker" in command or "forkserver" in command


def _describe(processes: list[psutil.Process]) -> str:
    described = []
    for process in processes:
        try:
            described.append(f"{process.pid} {' '.join(process.cmdline())[:120]!r}")
        except psutil.Error:
            described.append(str(process.pid))
    return ", ".join(described)
