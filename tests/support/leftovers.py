"""The check that every test module leaves no segment and no child process behind.

Other test runs may share this machine, so it counts only what this run made: each pytest
process labels its segments (``ATARAXIS_LIKE_SHM_LABEL``, inherited by every process it starts,
recorded in each segment's header: docs/shared-memory.md), and looks at its own children only.
Usable as a plugin on its own: ``pytest -p tests.support.leftovers``.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from ataraxis_like.shm import list_segments
from ataraxis_like.shm._census import reclaim_stale
from ataraxis_like.shm._header import LABEL_VARIABLE
from ataraxis_like.shm._names import segment_path
from tests.support.processes import LONG_LIVED

_SHM = Path("/dev/shm")
_EXIT_GRACE_SECONDS = 10.0
"""How long a child told to stop may take to exit before it counts as left behind."""
_SEMAPHORE_GRACE_SECONDS = 10.0
"""How long an unmapped semaphore may take to go before it counts as left behind: with
``-n 2`` the other worker's kill_group removes its killed group's semaphores a moment after
the group dies, and this worker's check may look in between (seen once in CI on 3.13)."""


def pytest_configure(config: pytest.Config) -> None:
    """Give this pytest process (the controller and each xdist worker) a label of its own."""
    os.environ[LABEL_VARIABLE] = f"pytest-{os.getpid()}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module", autouse=True)
def leaves_nothing_behind() -> Iterator[None]:
    """After each module: no thread it started and no child process of ours runs, no segment
    this process or its descendants made remains once the library has reclaimed those of dead
    creators (a child SIGKILLed with its segments is covered: the label outlives it), and no
    named semaphore of multiprocessing made meanwhile is left that no process maps (a killed
    pool's)."""
    started = time.time()
    threads_before = set(threading.enumerate())
    yield
    problems = []
    threads = _lasting_threads(threads_before)
    if threads:  # a fork beside a running thread may deadlock the child (3.12+ warns)
        problems.append(f"threads still running: {', '.join(thread.name for thread in threads)}")
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
    orphans = _lasting_orphans(started)
    if orphans:
        problems.append(f"semaphores no process maps: {', '.join(path.name for path in orphans)}")
        for path in orphans:
            path.unlink(missing_ok=True)
    if problems:
        pytest.fail("this module " + "; ".join(problems), pytrace=False)


def orphaned_semaphores(since: float) -> list[Path]:
    """multiprocessing's named semaphores made since ``since`` that no live process maps.

    A spawn-started pool names its semaphores in /dev/shm and leaves removing them to its
    resource tracker; when a kill takes the tracker down too, they stay, and one that nobody
    maps can never be used again. Mappings are matched by inode: glibc maps a semaphore under
    a temporary name before giving it its own, so /proc/<pid>/maps shows another path.
    """
    candidates = {}
    for path in _SHM.glob("sem.mp-*"):
        try:
            status = path.stat()
        except FileNotFoundError:
            continue
        if status.st_ctime >= since:
            candidates[status.st_ino] = path
    if not candidates:
        return []
    device = os.stat(_SHM).st_dev
    mapped = _mapped_inodes(f"{os.major(device):02x}:{os.minor(device):02x}")
    return [path for inode, path in candidates.items() if inode not in mapped]


def _lasting_threads(before: set[threading.Thread]) -> list[threading.Thread]:
    """Threads started during the module that are still running once given time to end."""
    deadline = time.monotonic() + _EXIT_GRACE_SECONDS
    for thread in set(threading.enumerate()) - before:
        thread.join(max(0.0, deadline - time.monotonic()))
    return [thread for thread in set(threading.enumerate()) - before if thread.is_alive()]


def _lasting_orphans(since: float) -> list[Path]:
    """The orphaned semaphores made since ``since`` that are still there after the grace.

    A leak stays for good; one another worker is removing goes within milliseconds, so this
    polls until none is left or the grace ends, and names only those that outlived it.
    """
    deadline = time.monotonic() + _SEMAPHORE_GRACE_SECONDS
    orphans = orphaned_semaphores(since)
    while orphans and time.monotonic() < deadline:
        time.sleep(0.05)
        orphans = [path for path in orphaned_semaphores(since) if path in orphans]
    return orphans


def _mapped_inodes(device: str) -> set[int]:
    """Inodes of files on ``device`` (maps' "major:minor") that some live process maps."""
    inodes: set[int] = set()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/maps") as maps:
                lines = maps.readlines()
        except OSError:  # gone meanwhile, or not ours to read
            continue
        for line in lines:
            fields = line.split(maxsplit=5)
            if len(fields) > 4 and fields[3] == device:
                inodes.add(int(fields[4]))
    return inodes


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
