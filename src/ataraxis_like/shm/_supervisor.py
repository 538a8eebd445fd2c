"""The restart policy shared by the owners of a process that drains a ring (the DataLogger's
logger process and the HDF5 sink's writer): restart it when it dies, up to ``max_restarts``
times; a write failure (its own exit code) or too many deaths fails the ring for everyone."""

from __future__ import annotations

import subprocess
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._ring import Ring

EXIT_WRITE_FAILED = 3
"""Exit code of a draining process that could not write: the reason is in the ring's note."""


class RestartPolicy:
    """Mixed into an owner that has ``_deaths``, ``_max_restarts``, ``_failure`` and ``_spawn()``;
    it names its ring in ``_drained_ring()`` and what too many deaths mean in
    ``_too_many_deaths()``."""

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
