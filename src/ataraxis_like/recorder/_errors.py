"""The recorder's exceptions: each derives from AtaraxisError and the builtin a caller expects."""

from __future__ import annotations

from ..errors import AtaraxisError, DataMismatchError


class RecorderError(AtaraxisError, RuntimeError):
    """A recorder operation cannot run in the recorder's current state."""


class RecordValueError(DataMismatchError):
    """A value cannot be kept or stored without loss (kind, shape or dtype)."""


class SeriesKeyError(AtaraxisError, KeyError):
    """A series key is malformed, clashes with another key, or holds nothing yet."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class UntrustedPickleError(AtaraxisError, PermissionError):
    """A series holds pickled values and the store was not opened with ``allow_pickle=True``."""


class StoreClosedError(AtaraxisError, RuntimeError):
    """A store was used after ``close()``."""


class StoreConnectionError(AtaraxisError, ConnectionError):
    """A store's server could not be reached (or stopped answering)."""


class RecorderFormatError(AtaraxisError, ValueError):
    """A file does not hold a saved recorder (or holds one of a newer format)."""


class OptionalDependencyError(AtaraxisError, ImportError):
    """A feature needs a package that is not installed."""
