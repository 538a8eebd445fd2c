"""ataraxis-like: live data between processes through shared memory, and safely onto disk."""

from importlib.metadata import PackageNotFoundError, version

from .config import ConfigError, YamlConfig
from .errors import AtaraxisError, LockOwnerDiedWarning
from .logs import DataLogger, LogPackage
from .shm import SharedMemoryArray, cleanup_stale, list_arrays
from .shm.queue import ShmQueue

try:
    __version__ = version("ataraxis-like")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0"

__all__ = [
    "AtaraxisError",
    "ConfigError",
    "DataLogger",
    "LockOwnerDiedWarning",
    "LogPackage",
    "SharedMemoryArray",
    "ShmQueue",
    "YamlConfig",
    "__version__",
    "cleanup_stale",
    "list_arrays",
]
