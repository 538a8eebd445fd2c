"""The readers-writer lock of an HDF5 file in a Redis server, for processes on several hosts.

State under ``ataraxis-like:h5lock:{<name>}`` (``name``: the file's absolute path, or the
URL's ``?name=``), changed only by the Lua scripts below (each atomic in Redis), with the
server's clock (``TIME``) for every lease:

- ``:readers``: sorted set, holder id -> lease end (ms); ``:waiting``: the same for writers
  that wait (a waiter re-marks itself on every attempt, so a dead waiter's mark runs out);
- ``:writer``: ``"<holder id>#<token>"`` with a ``PX`` lease; ``:token``: the fencing counter,
  incremented for every writer that gets in, never reset.

A reader gets in when there is no writer and no live waiting writer (writer preference); a
writer when there is no writer and no live reader other than itself. A thread renews every held
lease every third of it; a holder that dies stops renewing and its entry lapses within one
lease. ``check()`` is the fence: it asks the server whether this holder's entry (and token) is
still there, extends it, and raises LockLostError otherwise; writers call it before every write
step.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
import weakref
from pathlib import Path
from typing import Any

from ..errors import LockTimeoutError
from ._errors import LockConfigError, LockLostError, LockServerError
from ._rwlock import poll

_POLL_MAX = 0.02
_NOW = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
"""
_ACQUIRE = (
    _NOW
    + """
local lease = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local writer = redis.call('GET', KEYS[3])
local readers = redis.call('ZCARD', KEYS[1])
local waiting = redis.call('ZCARD', KEYS[2])
if ARGV[2] == 'r' then
  if writer or waiting > 0 then return {0, 0, writer or '', readers, waiting} end
  redis.call('ZADD', KEYS[1], now + lease, ARGV[1])
  return {1, 0, '', readers + 1, 0}
end
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then readers = readers - 1 end
if writer or readers > 0 then
  redis.call('ZADD', KEYS[2], now + lease, ARGV[1])
  return {0, 0, writer or '', readers, redis.call('ZCARD', KEYS[2])}
end
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
local token = redis.call('INCR', KEYS[4])
redis.call('SET', KEYS[3], ARGV[1] .. '#' .. token, 'PX', lease)
return {1, token, '', 0, 0}
"""
)
_RENEW = (
    _NOW
    + """
local lease = tonumber(ARGV[3])
if ARGV[2] == 'w' then
  if redis.call('GET', KEYS[3]) == ARGV[1] .. '#' .. ARGV[4] then
    redis.call('PEXPIRE', KEYS[3], lease)
    return 1
  end
  return 0
end
local ends = redis.call('ZSCORE', KEYS[1], ARGV[1])
if ends and tonumber(ends) > now then
  redis.call('ZADD', KEYS[1], 'XX', now + lease, ARGV[1])
  return 1
end
return 0
"""
)
_DOWNGRADE = (
    _NOW
    + """
if redis.call('GET', KEYS[3]) ~= ARGV[1] .. '#' .. ARGV[4] then return 0 end
redis.call('DEL', KEYS[3])
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
return 1
"""
)
_RELEASE = """
if redis.call('GET', KEYS[3]) == ARGV[1] .. '#' .. ARGV[4] then redis.call('DEL', KEYS[3]) end
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return 1
"""


def redis_module() -> Any:
    try:
        import redis
    except ImportError as error:
        raise LockConfigError(
            "lock='redis://...' needs the redis client, which is not installed; run "
            "`pip install ataraxis-like[redis]`",
            package="redis",
        ) from error
    return redis


_CLIENTS: dict[tuple[int, str], Any] = {}


def _client(url: str, timeout: float) -> Any:
    """One client (a thread-safe connection pool) per process and URL."""
    key = (os.getpid(), url)
    client = _CLIENTS.get(key)
    if client is None:
        redis = redis_module()
        try:
            client = redis.Redis.from_url(
                url, socket_timeout=timeout, socket_connect_timeout=timeout
            )
        except ValueError as error:
            raise LockConfigError(f"lock URL {url!r} is not usable ({error}); expected "
                                  "redis://host:port/db") from None  # fmt: skip
        _CLIENTS[key] = client
    return client


class RedisRWLock:
    """``acquire(exclusive)``, ``downgrade()``, ``check()``, ``release()`` on a Redis server.

    ``url`` is redis-py's (``redis://[:password@]host:port/db``); ``lease`` (s) bounds how long
    a dead holder blocks the others; ``name`` is what processes on every host call the file.
    """

    def __init__(self, path: Path | str, url: str, lease: float, name: str | None = None) -> None:
        self.path = Path(path)
        self.url = url
        self.lease = lease
        self.name = name or str(self.path.resolve())
        prefix = f"ataraxis-like:h5lock:{{{self.name}}}"
        self.keys = [f"{prefix}:{part}" for part in ("readers", "waiting", "writer", "token")]
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.exclusive = False
        self.held = False
        self.token = 0
        self.lost = False
        self._valid_until = 0.0
        self.renew_at = 0.0  # when the renewal thread renews next (a third of a lease on)
        self._state = threading.Lock()  # the renewal thread sees held/exclusive/token change whole
        self._pid = os.getpid()
        self._server = url.split("@")[-1]
        self._redis = redis_module()
        self._client = _client(url, max(1.0, lease / 3))
        self._scripts = {
            name: self._client.register_script(text)
            for name, text in (("acquire", _ACQUIRE), ("renew", _RENEW),
                               ("downgrade", _DOWNGRADE), ("release", _RELEASE))
        }  # fmt: skip

    # ------------------------------------------------------------------ calls
    def _run(self, script: str, kind: str) -> Any:
        """One script call (keys, then id, kind, lease in ms, token); LockServerError if down."""
        arguments = [self.holder, kind, int(self.lease * 1000), self.token]
        try:
            return self._scripts[script](keys=self.keys, args=arguments)
        except (self._redis.exceptions.ConnectionError, self._redis.exceptions.TimeoutError) as e:
            raise LockServerError(
                f"Redis lock server {self._server} for {self.path} did not answer ({e}); start "
                "redis-server there or fix the lock URL",
                path=str(self.path),
            ) from e

    def _confirmed(self, sent: float) -> None:
        """The server has renewed the lease as of ``sent``: trust it locally until shortly
        before it would run out (a margin for clocks running at slightly different rates)."""
        self._valid_until = sent + self.lease * 0.9
        self.renew_at = sent + self.lease / 3

    def acquire(self, exclusive: bool, timeout: float | None = None) -> None:
        """Wait (``timeout`` None: forever) for the lock; LockTimeoutError after ``timeout``."""
        deadline = None if timeout is None else time.monotonic() + timeout
        kind = "w" if exclusive else "r"
        if exclusive and self.held:  # an upgrade lets go first, as flock does: two upgrading
            self.release()  # readers would otherwise wait for each other forever
        reply: list[Any] = []

        def attempt() -> bool:
            with self._state:
                sent = time.monotonic()
                try:
                    reply[:] = self._run("acquire", kind)
                except LockServerError:
                    self._forget_waiting()
                    raise
                if reply[0]:
                    self.exclusive, self.held, self.lost = exclusive, True, False
                    self.token = int(reply[1]) if exclusive else 0
                    self._confirmed(sent)
                return bool(reply[0])

        def timed_out() -> LockTimeoutError:
            self._forget_waiting()
            _granted, _token, writer, readers, waiting = reply
            holder = writer.decode() if isinstance(writer, bytes) else writer
            return LockTimeoutError(
                f"{self.path} stayed locked in Redis for {timeout} s (writer "
                f"{holder.split('#')[0] or 'none'}, {readers} reader(s), {waiting} writer(s) "
                f"waiting); could not take the {'write' if exclusive else 'read'} lock: wait "
                "for them or pass a longer timeout",
                path=str(self.path),
            )

        poll(attempt, deadline, timed_out, _POLL_MAX)
        _RENEWER.add(self)

    def _forget_waiting(self) -> None:
        try:
            self._run("release", "w")
        except LockServerError:
            pass  # the mark runs out within one lease

    def renew(self) -> bool:
        """Extend the lease (the renewal thread and ``check`` call this); False once lost."""
        with self._state:
            if not self.held or self.lost:
                return False
            sent = time.monotonic()
            if self._run("renew", "w" if self.exclusive else "r"):
                self._confirmed(sent)
                return True
            self.lost = True
            return False

    def check(self) -> None:
        """The fence before a write: LockLostError unless this holder's lease is still live."""
        late = time.monotonic() > self._valid_until
        if not self.held or late or not self.renew():
            self.lost = True
            cause = "its lease was not renewed in time" if late else "the server no longer has it"
            raise LockLostError(
                f"lost the Redis lock of {self.path} ({cause}; lease {self.lease} s, token "
                f"{self.token}): another process may have written since, so this write was "
                "refused; keep holders from pausing longer than the lease, or raise ?lease=",
                path=str(self.path),
                token=self.token,
            )

    def downgrade(self) -> None:
        with self._state:
            done = self._run("downgrade", "w")
            if done:
                self.exclusive, self.token = False, 0
            else:
                self.lost = True
        if not done:
            self.check()

    def release(self) -> None:
        """Give the lock back (a server that does not answer lets it lapse within the lease)."""
        if not self.held or os.getpid() != self._pid:
            return
        _RENEWER.discard(self)
        with self._state:
            self.held = False
            try:
                self._run("release", "w" if self.exclusive else "r")
            except LockServerError:
                pass

    def __enter__(self) -> RedisRWLock:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()


class _Renewer:
    """A daemon thread renewing each held lease a third of a lease after its last renewal,
    alive only while this process holds a lease (no thread lingers in a process that forks)."""

    def __init__(self) -> None:
        self._locks: weakref.WeakSet[RedisRWLock] = weakref.WeakSet()
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None

    def add(self, lock: RedisRWLock) -> None:
        with self._wake:
            self._locks.add(lock)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="h5lock-renew", daemon=True)
                self._thread.start()
            self._wake.notify()

    def discard(self, lock: RedisRWLock) -> None:
        """Stop renewing ``lock``; the last one out waits for the thread to end."""
        with self._wake:
            self._locks.discard(lock)
            thread = self._thread
            self._wake.notify_all()
            if thread is None or thread is threading.current_thread():
                return
            self._wake.wait_for(lambda: self._thread is not thread or bool(self._locks),
                                timeout=lock.lease)  # fmt: skip
            ended = self._thread is not thread
        if ended:
            thread.join(lock.lease)

    def _run(self) -> None:
        while True:
            with self._wake:
                if not self._locks:
                    self._thread = None
                    self._wake.notify_all()
                    return
                now = time.monotonic()
                due = [lock for lock in self._locks if now >= lock.renew_at]
                if not due:
                    self._wake.wait(min(lock.renew_at for lock in self._locks) - now)
                    continue
            for lock in due:
                try:
                    lock.renew()
                except LockServerError:
                    pass  # check() refuses writes once the lease may have run out

    def forget(self) -> None:
        """In a forked child: the parent's leases are not this process's to renew or release."""
        for lock in list(self._locks):
            lock.held = False
        self._locks = weakref.WeakSet()
        self._wake = threading.Condition()
        self._thread = None


_RENEWER = _Renewer()
os.register_at_fork(after_in_child=_RENEWER.forget)
