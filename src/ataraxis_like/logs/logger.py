"""DataLogger: producers in any process put LogPackages; a logger process writes them to disk.

The input queue is a shared-memory ring (the library's bus), so a put costs microseconds and
needs no manager process. Nothing the queue accepted is lost: a killed logger process is
restarted and the entries it held are written by its successor; a write error stops the flow
with an exception in ``stop()`` and in every later ``put``. See docs/logger.md.
"""

from __future__ import annotations

import atexit
import os
import secrets
import subprocess
import sys
import threading
import time
import uuid
import warnings
import weakref
from pathlib import Path
from typing import Any

import numpy as np
from filelock import FileLock, Timeout

from .._files import FILE_MODE, check_file_mode
from ..errors import AtaraxisError, QueueClosedError
from ..shm._ring import Ring
from ..shm._segment import PROCESS_ID
from ..shm._supervisor import RestartPolicy
from ._process import KIND_LOG_PACKAGE, LoggerSettings
from .package import LogPackage

DEFAULT_QUEUE_BYTES = 128 * 1024 * 1024


class LoggerError(AtaraxisError, RuntimeError):
    """The logger could not do its job; the message says what happened to the entries."""


class LoggerInUseError(AtaraxisError, FileExistsError):
    """Another live logger already writes to this instance's directory."""


class LoggerStoppedError(AtaraxisError, RuntimeError):
    """An entry was put after the logger was stopped."""


class LoggerSettingError(AtaraxisError, ValueError):
    """A DataLogger argument has an impossible value."""


class LogQueue:
    """The producer side of a DataLogger: ``put(LogPackage)``. Picklable to any process."""

    def __init__(self, queue_name: str, token: int, logger_name: str) -> None:
        self._queue_name = queue_name
        self._token = token
        self._logger_name = logger_name
        self._ring: Ring | None = None
        self._fast_put: Any = None  # the ring's compiled put (None without the accelerator)
        self._pid = -1

    def __getstate__(self) -> dict[str, Any]:
        return {"q": self._queue_name, "t": self._token, "n": self._logger_name}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["q"], state["t"], state["n"])  # type: ignore[misc]

    def _attach(self) -> Ring:
        ring = self._ring
        if ring is None or self._pid != os.getpid():
            ring = self._ring = Ring.attach(self._queue_name, self._token)
            self._fast_put = ring.fast_put
            self._pid = os.getpid()
        return ring

    def put(self, package: LogPackage, timeout: float | None = None) -> None:
        """Queue ``package``; wait while the queue is full (``timeout`` None: forever).

        Raises QueueFullError at the timeout, LoggerStoppedError after ``stop()`` and
        QueueFailedError once the logger has reported that it cannot write.
        """
        if type(package) is not LogPackage:
            raise _not_a_package(package)
        data = package.serialized_data
        first = None
        if self._pid == PROCESS_ID[0]:
            fast_put = self._fast_put  # one compiled call when the ring is open and has room
            if fast_put is not None:
                try:
                    first = fast_put(KIND_LOG_PACKAGE, package.meta, data, False)
                except (BufferError, ValueError):  # a strided view: copied on the general path
                    first = None
                if first == 0:
                    return
        self._put_slow(package.meta, data, timeout, first)

    def _put_slow(
        self, meta: bytes, data: np.ndarray, timeout: float | None, first: int | None
    ) -> None:
        """The put when the compiled one did not finish: ``first`` is its result, if tried."""
        ring = self._ring if first is not None else self._attach()
        assert ring is not None
        data = np.ascontiguousarray(data)
        try:
            if first is None:
                ring.put(KIND_LOG_PACKAGE, meta, data, data.nbytes, timeout)
            else:
                ring.finish_put(first, KIND_LOG_PACKAGE, meta, data, data.nbytes, timeout)
        except QueueClosedError:
            raise LoggerStoppedError(
                f"logger {self._logger_name!r} is stopped and takes no entries; "
                "call start() before putting",
                name=self._logger_name,
            ) from None

    def put_nowait(self, package: LogPackage) -> None:
        """Queue ``package`` or raise QueueFullError at once."""
        self.put(package, timeout=0)

    def qsize(self) -> int:
        """Entries accepted but not yet taken by the logger process."""
        return self._attach().stats()["items"]


def _check_unused_tuning(**arguments: tuple[Any, int]) -> None:
    """Refuse nonsense in the reference's tuning arguments even though they change nothing."""
    for name, (value, least) in arguments.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise LoggerSettingError(
                f"DataLogger {name} must be an int >= {least} (got {value!r}); it is accepted "
                "for code written against ataraxis-data-structures and has no effect here",
                setting=name,
            )


def _not_a_package(package: object) -> TypeError:
    return TypeError(
        f"input_queue takes LogPackage objects (got {type(package).__name__}); "
        "wrap the data: LogPackage(source_id, acquisition_time, serialized_data)"
    )


class DataLogger(RestartPolicy):
    """Writes LogPackages from any number of processes to ``.npy`` batch files.

    The positional order and defaults are those of ataraxis-data-structures 3.1
    (``output_directory, instance_name="data_logger", process_count, thread_count, sleep_timer,
    exist_ok``); its 4.x keywords work too. Arguments that tune the reference's design are
    checked and accepted but change nothing here, because that design is not ours: one logger
    process writes large batches (``process_count``, ``thread_count``), waiting is woken by
    each put rather than polled (``sleep_timer``, ``poll_interval``), and the input queue has a
    fresh name per logger while a crashed logger's directory lock dies with it, so there is no
    leftover to replace (``exist_ok``). What does tune this logger: ``flush_interval``,
    ``batch_bytes``, ``batch_entries``, ``queue_bytes``, ``durable`` (docs/logger.md);
    ``file_mode`` is the mode of the files it writes (owner-only by default, docs/files.md).
    """

    def __init__(
        self,
        output_directory: Path | str,
        instance_name: str = "data_logger",
        process_count: int = 1,
        thread_count: int = 5,
        sleep_timer: int = 5000,
        exist_ok: bool = False,
        *,
        poll_interval: int = 5,
        queue_bytes: int = DEFAULT_QUEUE_BYTES,
        durable: bool = False,
        flush_interval: float = 0.2,
        batch_bytes: int = 16 * 1024 * 1024,
        batch_entries: int = 65536,
        max_restarts: int = 5,
        file_mode: int = FILE_MODE,
    ) -> None:
        _check_unused_tuning(
            process_count=(process_count, 1),
            thread_count=(thread_count, 1),
            sleep_timer=(sleep_timer, 0),
            poll_interval=(poll_interval, 0),
        )
        del exist_ok
        if not isinstance(instance_name, str) or not instance_name or "/" in instance_name:
            raise LoggerSettingError(
                f"DataLogger instance_name must be a non-empty name without '/' "
                f"(got {instance_name!r}); pass a short name such as 'rig'",
                setting="instance_name",
            )
        self._file_mode = check_file_mode(file_mode)  # before the queue: a refusal leaves none
        self._name = instance_name
        self._directory = Path(output_directory) / f"{instance_name}_data_log"
        self._ring = Ring.create(
            f"log_{uuid.uuid4().hex[:16]}", queue_bytes, argument="queue_bytes"
        )
        self._queue = LogQueue(self._ring.name, self._ring.segment.header.token, instance_name)
        self.onset_us = time.time_ns() // 1000
        self._onset_monotonic_ns = time.monotonic_ns()
        self._session = secrets.randbits(63)
        self._settings_kwargs = {
            "durable": durable,
            "flush_interval": flush_interval,
            "batch_bytes": min(batch_bytes, self._ring.capacity // 4),
            "batch_entries": batch_entries,
            "file_mode": self._file_mode,
        }
        self._max_restarts = max_restarts
        self._owner_pid = os.getpid()
        self._process: subprocess.Popen[bytes] | None = None
        self._watchdog: threading.Thread | None = None
        _OPEN_LOGGERS.add(self)
        self._stopping = threading.Event()
        self._deaths: list[int | None] = []
        self._failure: str | None = None
        self._file_lock: FileLock | None = None

    # ------------------------------------------------------------ properties
    @property
    def input_queue(self) -> LogQueue:
        return self._queue

    @property
    def name(self) -> str:
        return self._name

    @property
    def output_directory(self) -> Path:
        return self._directory

    @property
    def alive(self) -> bool:
        """True while the logger process runs (between a restart's death and spawn, False)."""
        return self._process is not None and self._process.poll() is None

    @property
    def started(self) -> bool:
        """True from ``start()`` until ``stop()``, including while a died process is restarted."""
        return self._process is not None

    def timestamp_us(self) -> int:
        """Microseconds since this logger's onset (monotonic): a ready acquisition_time."""
        return (time.monotonic_ns() - self._onset_monotonic_ns) // 1000

    def __repr__(self) -> str:
        return (
            f"DataLogger(name={self._name!r}, directory={str(self._directory)!r}, "
            f"alive={self.alive})"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return RemoteLogger, (
            self._queue, self._name, self._directory, self.onset_us, self._onset_monotonic_ns,
        )  # fmt: skip

    # ------------------------------------------------------------- lifecycle
    def start(self) -> None:
        """Start the logger process. Refused if another live logger writes to the directory."""
        self._require_owner()
        if self.alive:
            return
        self._directory.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(self._directory / ".logger.lock"),
                        mode=self._file_mode)  # fmt: skip
        try:
            lock.acquire(timeout=0)
        except Timeout:
            raise LoggerInUseError(
                f"another live logger writes to {self._directory}; stop it or use another "
                "instance_name or output_directory",
                directory=str(self._directory),
            ) from None
        self._file_lock = lock
        self._failure = None
        self._deaths = []
        self._ring.reopen()
        self._stopping.clear()
        self._spawn()
        self._watchdog = threading.Thread(
            target=DataLogger._watch, args=(weakref.ref(self),), name=f"{self._name}-watchdog"
        )
        self._watchdog.daemon = True
        self._watchdog.start()

    def _spawn(self) -> None:
        settings = LoggerSettings(
            self._ring.name, self._ring.segment.header.token, self._directory, self._name,
            self.onset_us, self._session, **self._settings_kwargs,  # type: ignore[arg-type]
        )  # fmt: skip
        # A fresh interpreter, not multiprocessing: the user's __main__ is never re-imported.
        self._process = subprocess.Popen(
            [sys.executable, "-m", "ataraxis_like.logs._logger_main", settings.to_json()],
            stdin=subprocess.DEVNULL,
        )

    def _drained_ring(self) -> Ring:
        return self._ring

    def _too_many_deaths(self) -> str:
        return (
            f"logger {self._name!r} process died {len(self._deaths)} times (exit codes "
            f"{self._deaths}); entries stay queued: find the cause and call start()"
        )

    def stop(self) -> None:
        """Write everything queued, stop the logger process, and report any trouble.

        Raises LoggerError when the logger process died during the run (its entries were still
        written by a successor) or when entries could not be written (they stay queued).
        """
        self._require_owner()
        if self._process is None:
            return
        self._stopping.set()
        if self._watchdog is not None and self._watchdog is not threading.current_thread():
            self._watchdog.join()
        self._watchdog = None
        self._ring.mark_closed()
        self._drain_exits()
        self._process = None
        if self._file_lock is not None:
            self._file_lock.release()
            self._file_lock = None
        self._raise_if_troubled()

    def _raise_if_troubled(self) -> None:
        if self._failure is not None:
            queued = self._ring.unreleased()
            raise LoggerError(
                f"{self._failure} ({queued} entries still queued)", name=self._name, queued=queued
            )
        if self._deaths:
            raise LoggerError(
                f"logger {self._name!r} process died {len(self._deaths)} time(s) (exit codes "
                f"{self._deaths}) and was restarted; every accepted entry was written",
                name=self._name,
                deaths=list(self._deaths),
            )

    def compress_logs(self, **options: Any) -> dict[int, Path]:
        """Build one archive per source from this logger's batches (see compress_npy_logs)."""
        from .archive import compress_npy_logs

        return compress_npy_logs(self._directory, **options)

    def __enter__(self) -> DataLogger:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Leaving the block closes the logger: its queue (``queue_bytes`` of shared memory)
        is removed then, not when the object is collected."""
        self.close()

    def close(self) -> None:
        """Stop if running, then remove the queue. Entries still queued are reported."""
        if os.getpid() != self._owner_pid or self._ring is None:
            return
        try:
            self.stop()
        finally:
            unwritten = self._ring.unreleased()
            self._ring.segment.unlink()
            self._ring.close()
            self._ring = None  # type: ignore[assignment]
        if unwritten:
            warnings.warn(
                f"logger {self._name!r} closed with {unwritten} entries never written",
                ResourceWarning,
                stacklevel=2,
            )

    def __del__(self) -> None:
        _OPEN_LOGGERS.discard(self)
        if getattr(self, "_ring", None) is not None and os.getpid() == self._owner_pid:
            try:
                self.close()
            except LoggerError as error:
                warnings.warn(str(error), ResourceWarning, stacklevel=1)

    def _require_owner(self) -> None:
        if os.getpid() != self._owner_pid:
            raise LoggerError(
                f"logger {self._name!r} is controlled by pid {self._owner_pid}; call start() "
                "and stop() there",
                name=self._name,
            )


_OPEN_LOGGERS: weakref.WeakSet[DataLogger] = weakref.WeakSet()


@atexit.register
def _close_open_loggers() -> None:
    """At interpreter exit, stop this process's loggers while Python still works: queued
    entries are written, and a failure is reported (``__del__`` at teardown cannot)."""
    for logger in list(_OPEN_LOGGERS):
        if logger._owner_pid != os.getpid():
            continue
        try:
            logger.close()
        except LoggerError as error:
            print(f"ataraxis-like: {error}", file=sys.stderr)


class RemoteLogger:
    """What a DataLogger becomes in another process: its queue, names and clock, no control."""

    def __init__(
        self, queue: LogQueue, name: str, directory: Path, onset_us: int, onset_monotonic_ns: int
    ) -> None:
        self.input_queue = queue
        self.name = name
        self.output_directory = directory
        self.onset_us = onset_us
        self._onset_monotonic_ns = onset_monotonic_ns

    def timestamp_us(self) -> int:
        """Microseconds since the logger's onset (the monotonic clock is system-wide)."""
        return (time.monotonic_ns() - self._onset_monotonic_ns) // 1000

    def __repr__(self) -> str:
        return f"RemoteLogger(name={self.name!r}, directory={str(self.output_directory)!r})"
