"""Is a segment's creator alive? Answered only from what can be proved.

Two proofs of death exist. The creator holds an exclusive ``flock`` on its segment from before
the segment has a name until it exits (the kernel drops it at death, SIGKILL included), so a
lock anyone can take means the creator is gone, in any PID namespace that shares ``/dev/shm``.
And within our own PID namespace, no process with the creator's pid and start time means it is
gone. When neither can be shown (another user's segment we cannot open, a version-1 segment whose
creator we cannot find), the answer is "cannot tell", which every caller treats as alive.
"""

from __future__ import annotations

import errno
import fcntl
import os

import psutil

from ._header import Identity

LIVE, STALE, UNKNOWN = "live", "stale", "unknown"
_START_TIME_TOLERANCE = 0.05
_own_start_time: tuple[int, float] | None = None
_own_namespace: tuple[int, int] | None = None


def own_pid_namespace() -> int:
    """The inode of this process's PID namespace (``/proc/self/ns/pid``), 0 when unknown."""
    global _own_namespace
    pid = os.getpid()
    if _own_namespace is None or _own_namespace[0] != pid:
        try:
            _own_namespace = (pid, os.stat("/proc/self/ns/pid").st_ino)
        except OSError:
            _own_namespace = (pid, 0)
    return _own_namespace[1]


def process_start_time(pid: int) -> float:
    """When ``pid`` (in our PID namespace) started, as psutil reports it; NoSuchProcess if none."""
    global _own_start_time
    if pid == os.getpid():
        if _own_start_time is None or _own_start_time[0] != pid:
            _own_start_time = (pid, psutil.Process(pid).create_time())
        return _own_start_time[1]
    return psutil.Process(pid).create_time()


def same_namespace(namespace: int) -> bool:
    """True when ``namespace`` (as recorded in a header) is known to be ours."""
    return namespace != 0 and namespace == own_pid_namespace()


def process_alive(pid: int, start_time: float) -> bool:
    """True when the process ``pid`` of our namespace is the one that started at ``start_time``
    (or when we may not look at it)."""
    try:
        return abs(process_start_time(pid) - start_time) < _START_TIME_TOLERANCE
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True


def hold_lifetime_lock(descriptor: int) -> None:
    """Called by a creator on its new segment's descriptor, kept open for its whole life."""
    fcntl.flock(descriptor, fcntl.LOCK_EX)


def lifetime_lock_free(descriptor: int) -> bool:
    """True when nobody holds the lifetime lock of the segment open at ``descriptor``.

    Takes a shared lock for an instant to find out: it fails only while the creator holds its
    exclusive one. (An exclusive probe failed while another process probed the same segment,
    and the creator was then taken for alive.) ``descriptor`` must be our own open file
    description, never the creator's.
    """
    try:
        fcntl.flock(descriptor, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError as error:
        if error.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
            return False
        raise
    fcntl.flock(descriptor, fcntl.LOCK_UN)
    return True


def judge(identity: Identity, descriptor: int | None) -> str:
    """LIVE, STALE or UNKNOWN for the creator named in ``identity``; ``descriptor`` is an open
    file description of the segment, None when we could not open it."""
    if identity.version >= 2 and descriptor is not None and not lifetime_lock_free(descriptor):
        return LIVE
    local = same_namespace(identity.creator_pid_namespace)
    if local and process_alive(identity.creator_pid, identity.creator_start_time):
        return LIVE  # its lock is gone (it closed descriptors it did not open), but it runs
    if identity.version >= 2 and descriptor is not None:
        return STALE  # the lock is free: the creator's exit released it
    if identity.version < 2 and process_alive(identity.creator_pid, identity.creator_start_time):
        return LIVE  # version 1 recorded no namespace: a match here is the best evidence
    return UNKNOWN


def creator_alive(identity: Identity, descriptor: int | None) -> bool:
    """False only when the creator is proved dead."""
    return judge(identity, descriptor) != STALE
