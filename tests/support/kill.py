"""Kill a process at the worst moment: while it holds a segment's lock; kill a whole group.

The victim is stopped with SIGSTOP at a random instant; if the robust mutex's owner word names
it, it is inside a critical section (mid-put, mid-get, mid-update) and gets SIGKILL. Otherwise it
resumes and we try again. What a test then asserts does not depend on timing.
"""

from __future__ import annotations

import os
import random
import signal
import time

import psutil

from ataraxis_like.shm._header import MUTEX_OFFSET
from ataraxis_like.shm._names import segment_path

from .leftovers import orphaned_semaphores

_TID_MASK = 0x3FFF_FFFF


def lock_owner(name: str) -> int:
    """Thread id of the current holder of segment ``name``'s lock, 0 when free."""
    with open(segment_path(name), "rb") as handle:
        word = int.from_bytes(os.pread(handle.fileno(), 4, MUTEX_OFFSET), "little")
    return word & _TID_MASK


def _wait_stopped(process: psutil.Process) -> None:
    for _ in range(10_000):
        if process.status() in (psutil.STATUS_STOPPED, psutil.STATUS_ZOMBIE):
            return
        time.sleep(0.0001)
    raise AssertionError(f"pid {process.pid} did not stop")


def kill_inside_lock(pid: int, name: str, attempts: int = 20_000, seed: int = 0) -> bool:
    """SIGKILL ``pid`` while it holds ``name``'s lock; False if it exited or never held it."""
    rng = random.Random(seed)
    process = psutil.Process(pid)
    for _ in range(attempts):
        if not process.is_running() or process.status() == psutil.STATUS_ZOMBIE:
            return False
        os.kill(pid, signal.SIGSTOP)
        _wait_stopped(process)
        if lock_owner(name) == pid:
            os.kill(pid, signal.SIGKILL)
            return True
        os.kill(pid, signal.SIGCONT)
        time.sleep(rng.random() * 0.0005)
    return False


def kill_group(pgid: int, seconds: float = 30.0) -> None:
    """SIGKILL every process of group ``pgid`` and return once none of them runs any more.

    A killed process lets go of its files and segments only once the kernel has finished it;
    what a test does next (resume, recover, count segments) must not race with that. The
    named semaphores multiprocessing made in the group are removed too (orphaned_semaphores).
    """
    started = psutil.Process(pgid).create_time()
    os.killpg(pgid, signal.SIGKILL)
    deadline = time.monotonic() + seconds
    while True:
        alive = []
        for process in psutil.process_iter(["status"]):
            try:
                if (
                    os.getpgid(process.pid) == pgid
                    and process.info["status"] != psutil.STATUS_ZOMBIE
                ):
                    alive.append(process.pid)
            except (ProcessLookupError, psutil.Error):
                continue
        if not alive:
            for path in orphaned_semaphores(started):  # the group's resource tracker died too
                path.unlink(missing_ok=True)
            return
        assert time.monotonic() < deadline, f"processes {alive} of group {pgid} outlived SIGKILL"
        time.sleep(0.005)
