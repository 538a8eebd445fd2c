"""ataraxis-like: live data between processes through shared memory, and safely onto disk.

The names below load on first use, so a process that needs one part (a logger or sink writer
process, an experiment worker) does not pay for importing the others.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .config import ConfigError, YamlConfig
    from .errors import AtaraxisError, LockOwnerDiedWarning
    from .experiment import Experiment
    from .hdf5 import Hdf5Sink, SinkReader
    from .logs import (
        DataLogger,
        LogArchiveReader,
        LogPackage,
        assemble_log_archives,
        compress_npy_logs,
    )
    from .recorder import (
        ExperimentCollection,
        Hdf5Store,
        MemoryStore,
        Recorder,
        RedisStore,
        SeriesRecorder,
    )
    from .shm import SharedMemoryArray, cleanup_stale, list_arrays
    from .shm.queue import ShmQueue

# Each name and the module that defines it: the names of the README's table, loaded on first use.
_WHERE = {
    "AtaraxisError": ".errors",
    "ConfigError": ".config",
    "DataLogger": ".logs",
    "Experiment": ".experiment",
    "ExperimentCollection": ".recorder",
    "Hdf5Sink": ".hdf5",
    "Hdf5Store": ".recorder",
    "LockOwnerDiedWarning": ".errors",
    "LogArchiveReader": ".logs",
    "LogPackage": ".logs",
    "MemoryStore": ".recorder",
    "Recorder": ".recorder",
    "RedisStore": ".recorder",
    "SeriesRecorder": ".recorder",
    "SharedMemoryArray": ".shm",
    "ShmQueue": ".shm.queue",
    "SinkReader": ".hdf5",
    "YamlConfig": ".config",
    "assemble_log_archives": ".logs",
    "cleanup_stale": ".shm",
    "compress_npy_logs": ".logs",
    "list_arrays": ".shm",
}


def _installed_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("ataraxis-like")
    except PackageNotFoundError:  # running from a source tree without installation
        return "0.0.0"


def __getattr__(name: str) -> Any:
    if name == "__version__":
        value: Any = _installed_version()
    elif name in _WHERE:
        value = getattr(importlib.import_module(_WHERE[name], __name__), name)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_WHERE, "__version__"])


__all__ = [
    "AtaraxisError",
    "ConfigError",
    "DataLogger",
    "Experiment",
    "ExperimentCollection",
    "Hdf5Sink",
    "Hdf5Store",
    "LockOwnerDiedWarning",
    "LogArchiveReader",
    "LogPackage",
    "MemoryStore",
    "Recorder",
    "RedisStore",
    "SeriesRecorder",
    "SharedMemoryArray",
    "ShmQueue",
    "SinkReader",
    "YamlConfig",
    "__version__",
    "assemble_log_archives",
    "cleanup_stale",
    "compress_npy_logs",
    "list_arrays",
]
