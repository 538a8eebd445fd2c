"""Queue mode, the owner side: the ring, the shared registry, and the single writer process.

The owner holds the file's writer lock and hands its descriptor to the writer process, so the
lock lives while either lives. The writer is ``python -m ataraxis_like.hdf5._writer_main`` (a
fresh interpreter: the user's ``__main__`` is never imported again). A weakly held watchdog
thread restarts a writer that dies; ``close()`` drains the ring, stops the writer and raises
SinkError when anything went wrong during the run (as the DataLogger does).
"""

from __future__ import annotations

import subprocess
import sys
import threading
import uuid
import weakref
from pathlib import Path
from typing import Any

from ..shm._ring import Ring
from ..shm._supervisor import RestartPolicy
from ._errors import SinkError
from ._registry import ClientTable, Registry
from ._rwlock import writer_lock
from ._store import Store
from ._writer import WriterSettings
from .client import Channels, Hdf5Client


class QueueOwner(RestartPolicy):
    """Everything a queue-mode sink owns; made by ``Hdf5Sink(..., sharing="queue")``."""

    def __init__(self, path: Path, mode: str, options: dict[str, Any]) -> None:
        self.path = path
        self._max_restarts: int = options["max_restarts"]
        self._lock = writer_lock(path, options["lock_timeout"])
        self._ring: Ring | None = None
        self._made: list[Any] = []
        try:
            store = Store(path, mode, options["compression"], options["chunk_bytes"])
            schemas = store.schemas
            store.close()
            ring = self._ring = Ring.create(
                f"h5q_{uuid.uuid4().hex[:16]}", options["queue_bytes"], argument="queue_bytes"
            )
            registry = Registry.create(options["registry_bytes"])
            table = ClientTable.create(options["max_clients"])
            self._made = [registry.array, table.array]
            for schema in schemas.values():
                registry.register(schema)
        except BaseException:
            self._cleanup()
            raise
        self._registry, self._table = registry, table
        channels = Channels(str(path), ring.name, ring.segment.header.token, registry.array,
                            table.array)  # fmt: skip
        self.client = Hdf5Client(channels)
        self._settings = WriterSettings(
            str(path), ring.name, ring.segment.header.token, registry.array.__getstate__(),
            table.array.__getstate__(), options["compression"], options["chunk_bytes"],
            options["flush_interval"], min(options["flush_bytes"], ring.capacity // 4),
            options["flush_records"],
        )  # fmt: skip
        self._process: subprocess.Popen[bytes] | None = None
        self._stopping = threading.Event()
        self._deaths: list[int | None] = []
        self._failure: str | None = None
        self._spawn()
        self._watchdog = threading.Thread(
            target=QueueOwner._watch, args=(weakref.ref(self),), name=f"hdf5-sink-{path.name}"
        )
        self._watchdog.daemon = True
        self._watchdog.start()

    @property
    def writer_pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def _spawn(self) -> None:
        assert self._lock.fd is not None
        self._process = subprocess.Popen(
            [sys.executable, "-m", "ataraxis_like.hdf5._writer_main", self._settings.to_json()],
            stdin=subprocess.DEVNULL,
            pass_fds=(self._lock.fd,),
        )

    def _drained_ring(self) -> Ring:
        assert self._ring is not None
        return self._ring

    def _too_many_deaths(self) -> str:
        return (
            f"the writer of {self.path} died {len(self._deaths)} times (exit codes "
            f"{self._deaths}); rows stay queued: find the cause"
        )

    def close(self) -> None:
        """Write everything queued, stop the writer, free the shared memory; report trouble."""
        if self._ring is None:
            return
        self._stopping.set()
        if self._watchdog is not threading.current_thread():
            self._watchdog.join()
        ring = self._ring
        ring.mark_closed()
        self._drain_exits()
        self._process = None
        unwritten = ring.unreleased() if self._failure is not None else 0
        self._cleanup()
        if self._failure is not None:
            raise SinkError(
                f"{self._failure} ({unwritten} records were never written)",
                path=str(self.path),
                unwritten=unwritten,
            )
        if self._deaths:
            raise SinkError(
                f"the writer of {self.path} died {len(self._deaths)} time(s) (exit codes "
                f"{self._deaths}) and was restarted; every accepted row was written",
                path=str(self.path),
                deaths=list(self._deaths),
            )

    def _cleanup(self) -> None:
        if self._ring is not None:
            self._ring.segment.unlink()
            self._ring.close()
            self._ring = None
        for array in self._made:
            array.destroy()
        self._made = []
        self._lock.release()
