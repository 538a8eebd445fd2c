"""ataraxis-like: live data between processes through shared memory, and safely onto disk."""

from importlib.metadata import PackageNotFoundError, version

from .errors import AtaraxisError, LockOwnerDiedWarning
from .shm import SharedMemoryArray, cleanup_stale, list_arrays

try:
    __version__ = version("ataraxis-like")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0"

__all__ = [
    "AtaraxisError",
    "LockOwnerDiedWarning",
    "SharedMemoryArray",
    "__version__",
    "cleanup_stale",
    "list_arrays",
]
