"""How a sink ends, and its background flush: what it holds, and how it lets go.

A local or lock-mode sink flushes every ``flush_interval`` from a daemon thread that holds the
sink weakly (a forgotten sink is still collected and closed). ``close`` writes what is left,
closes the file and releases its lock; rows that could not be written then are counted in the
error. A sink collected unclosed closes itself, warning instead of raising.
"""

from __future__ import annotations

import os
import sys
import threading
import warnings
import weakref
from pathlib import Path
from typing import Any, Self

from ..shm._segment import PROCESS_ID
from ._buffer import Buffer
from ._errors import SinkError, SinkWriteError
from ._owner import QueueOwner
from ._paths import writing
from ._store import Store
from .locked import PendingRows
from .reader import SinkReader


class SinkLifetime:
    """The flush thread and the close of ``Hdf5Sink`` (mixed into it; the sink provides the
    state below)."""

    path: Path
    mode: str
    _closed: bool
    _owner_pid: int
    _dirty: bool
    _mutex: Any  # a threading.RLock
    _buffers: dict[str, Buffer]
    _pending: PendingRows
    _store: Store | None
    _queue: QueueOwner | None
    _reader: SinkReader | None
    _writer_lock: Any
    _stop_ticking: threading.Event
    _ticker: threading.Thread | None

    def flush(self) -> None:
        """Hdf5Sink.flush: put every appended row in the file."""
        raise NotImplementedError

    def _unwritten_rows(self) -> int:
        """Rows appended but not yet in the file (a buffer may sit under two keys)."""
        buffers = {id(buffer): buffer for buffer in self._buffers.values()}.values()
        return sum(buffer.count for buffer in buffers) + sum(
            len(rows) for _schema, rows in self._pending.blocks
        )

    def _start_ticking(self, interval: float) -> None:
        ticker = self._ticker = threading.Thread(
            target=SinkLifetime._tick,
            args=(weakref.ref(self), interval, self._stop_ticking),
            name=f"hdf5-sink-flush-{self.path.name}",
            daemon=True,
        )
        ticker.start()

    @staticmethod
    def _tick(reference: weakref.ref[SinkLifetime], interval: float, stop: threading.Event) -> None:
        """Flush rows that waited ``interval`` (live readers see them); holds the sink weakly."""
        while not stop.wait(interval):
            sink = reference()
            if sink is None:
                return
            with sink._mutex:
                if not sink._closed and (sink._dirty or sink._unwritten_rows()):
                    try:
                        sink.flush()
                    except Exception:  # the owner's next flush() or close() raises it
                        return
            del sink

    def close(self) -> None:
        """Write everything, close the file and release it (queue mode: stop the writer)."""
        if self._closed or PROCESS_ID[0] != self._owner_pid:
            return
        self._stop_ticking.set()
        with self._mutex:  # the flush thread may be inside flush()
            if self._closed:
                return
            try:
                if self._queue is not None:
                    self._queue.close()
                elif self.mode != "r":
                    self._final_flush()
            finally:
                self._closed = True
                self._buffers = {}
                try:
                    if self._store is not None:
                        with writing(self.path):
                            self._store.close()
                finally:
                    if self._writer_lock is not None:
                        self._writer_lock.release()
                    if self._reader is not None:
                        self._reader.close()
        ticker = self._ticker
        if ticker is not None and ticker is not threading.current_thread():
            ticker.join()  # gone when close() returns (a fork right after copies no thread)

    def _final_flush(self) -> None:
        """flush() for close(): rows it cannot write are lost, and the error says how many."""
        try:
            self.flush()
        except SinkWriteError as error:
            lost = self._unwritten_rows()
            number = getattr(error, "errno", None)
            reason = os.strerror(number) if isinstance(number, int) else "the file failed"
            raise SinkWriteError(
                f"closed sink file {self.path} without its last {lost} buffered rows "
                f"({reason}); the rows flushed before are in the file",
                path=str(self.path),
                lost_rows=lost,
                errno=number,
            ) from error

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __del__(self) -> None:
        if not getattr(self, "_closed", True) and os.getpid() == self._owner_pid:
            try:
                self.close()
            except (SinkError, SinkWriteError) as error:
                warnings.warn(str(error), ResourceWarning, stacklevel=1)
            except Exception:
                if not sys.is_finalizing():
                    raise
