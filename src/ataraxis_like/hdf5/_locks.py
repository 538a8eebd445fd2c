"""Which readers-writer lock guards a file: ``lock=None``/``"flock"`` or ``"redis://..."``.

Every lock offers the same four calls (``RWLock``), so ``locked_file``, lock-mode batches and
the h5pySWMR facade do not care which one they hold. A Redis URL is redis-py's, plus two query
parameters of ours: ``lease`` (seconds, default 10) and ``name`` (what every host calls the
file, default its absolute path): ``redis://host:6379/0?lease=5&name=rig7/session.h5``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ._errors import LockConfigError
from ._mounts import check_mount
from ._rwlock import FileRWLock

DEFAULT_LEASE = 10.0
_OURS = ("lease", "name")


class RWLock(Protocol):
    """What a file's lock offers: shared (readers) or exclusive (one writer) turns."""

    url: str
    exclusive: bool

    def acquire(self, exclusive: bool, timeout: float | None = None) -> None: ...

    def downgrade(self) -> None: ...

    def check(self) -> None: ...

    def release(self) -> None: ...


def check_lock_url(lock: str | None) -> str | None:
    """``lock`` itself when usable, else LockConfigError naming what is accepted."""
    if lock is None or lock == "flock":
        return lock
    if not isinstance(lock, str) or urlsplit(lock).scheme not in ("redis", "rediss"):
        raise LockConfigError(
            f"lock must be None, 'flock' or a 'redis://host:port/db' URL (got {lock!r}); pass "
            "one of those",
            lock=repr(lock),
        )
    _split(lock)
    return lock


def _split(url: str) -> tuple[str, float, str | None]:
    """redis-py's URL without our parameters, the lease and the name."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query)
    ours = {key: value for key, value in query if key in _OURS}
    theirs = [(key, value) for key, value in query if key not in _OURS]
    try:
        lease = float(ours.get("lease", DEFAULT_LEASE))
    except ValueError:
        lease = -1.0
    if not lease > 0:
        raise LockConfigError(
            f"lock URL {url!r}: lease must be a positive number of seconds (got "
            f"{ours.get('lease')!r}); pass e.g. ?lease=10",
            lock=url,
        )
    return urlunsplit(parts._replace(query=urlencode(theirs))), lease, ours.get("name")


def open_lock(path: Path | str, lock: str | None = None) -> RWLock:
    """A new, not yet acquired lock of ``path`` of the kind ``lock`` names."""
    if check_lock_url(lock) in (None, "flock"):
        check_mount(Path(path), "flock")
        return FileRWLock(path)
    from ._redis_lock import RedisRWLock

    assert lock is not None
    check_mount(Path(path), "redis")
    url, lease, name = _split(lock)
    return RedisRWLock(path, url, lease, name)
