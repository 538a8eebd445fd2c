"""The restart policy shared by the owners of a process that drains a ring (the DataLogger's
logger process and the HDF5 sink's writer): restart it when it dies, up to ``max_restarts``
times; a write failure (its own exit code) or too many deaths fails the ring for everyone."""

from __future__ import annotations

import subprocess
import threading
import weakref
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._ring import Ring

EXIT_WRITE_FAILED = 3
"""Exit code of a draining process that could not write: the reason is in the ring's note."""


class RestartPolicy:
    """Mixed into an owner that has ``_process``, ``_stopping``, ``_deaths``, ``_max_restarts``,
    ``_failure`` and ``_spawn()``; it names its ring in ``_drained_ring()`` and what too many
    deaths mean in ``_too_many_deaths()``. The owner's watchdog thread runs ``_watch`` and its
    shutdown calls ``_drain_exits`` once the ring is marked closed."""

    _process: subprocess.Popen[bytes] | None
    _stopping: threading.Event
    _deaths: list[int | None]
    _max_restarts: int
    _failure: str | None

    def _spawn(self) -> None:
        raise NotImplementedError

    def _drained_ring(self) -> Ring:
        raise NotImplementedError

    def _too_many_deaths(self) -> str:
        raise NotImplementedError

    def _handle_exit(self, process: subprocess.Popen[bytes]) -> bool:
        """Account for a finished draining process; True when a successor was started."""
        code = process.returncode
        if code == 0:
            return False
        ring = self._drained_ring()
        if code == EXIT_WRITE_FAILED:
            self._failure = ring.failure()
            return False
        self._deaths.append(code)
        if len(self._deaths) > self._max_restarts:
            self._failure = self._too_many_deaths()
            ring.mark_failed(self._failure)
            return False
        self._spawn()
        return True

    @staticmethod
    def _watch(reference: weakref.ref[RestartPolicy]) -> None:
        """Restart the draining process when it dies unexpectedly; give up after max_restarts.

        Holds the owner only weakly, so an owner dropped without shutting down is still collected.
        """
        while True:
            owner = reference()
            if owner is None or owner._stopping.is_set() or owner._process is None:
                return
            process, stopping = owner._process, owner._stopping
            del owner
            try:
                process.wait(timeout=0.2)
            except subprocess.TimeoutExpired:
                continue
            owner = reference()
            if owner is None or stopping.is_set() or not owner._handle_exit(process):
                return
            del owner

    def _drain_exits(self) -> None:
        """At shutdown (ring marked closed, watchdog joined): wait for the draining process to
        finish the ring, starting successors for deaths as the watchdog would."""
        while self._failure is None and self._process is not None:
            self._process.wait()
            if not self._handle_exit(self._process):
                break
