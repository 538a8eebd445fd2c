"""The library's exceptions and warnings.

Every exception derives from ``AtaraxisError`` and from the builtin a caller would already
catch (``FileExistsError``, ``TimeoutError``, ``ValueError`` ...), so ``except TimeoutError``
keeps working.
Messages are one line: what failed, what was expected, what came, and the fix. Structured details
are keyword attributes that survive pickling, so errors raised in a worker reach the parent intact.
"""

from __future__ import annotations

import pickle
import queue
from typing import Any


def _rebuild(cls: type[AtaraxisError], message: str, details: dict[str, Any]) -> AtaraxisError:
    return cls(message, **details)


class AtaraxisError(Exception):
    """Root of every error this library raises."""

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.details = details
        for key, value in details.items():
            setattr(self, key, value)

    def __reduce__(self) -> tuple[Any, ...]:
        return _rebuild, (type(self), str(self), self.details)


class InvalidNameError(AtaraxisError, ValueError):
    """A shared-memory name is empty, too long or holds characters a segment name cannot."""


class SegmentExistsError(AtaraxisError, FileExistsError):
    """A segment of that name exists and its creator is alive."""


class SegmentNotFoundError(AtaraxisError, FileNotFoundError):
    """No segment of that name exists (or it was replaced since this handle was made)."""


class ForeignSegmentError(AtaraxisError, ValueError):
    """A segment exists under that name but was not written by this library (or this version)."""


class UntrustedSegmentError(AtaraxisError, PermissionError):
    """A segment was made by a user this process does not trust (or others could write it)."""


class CorruptSegmentError(AtaraxisError, ValueError):
    """A segment's header, lock or control words hold values no intact segment can have."""


class InvalidArgumentError(AtaraxisError, ValueError, TypeError):
    """An argument has the wrong type or a value outside its range (a timeout, a count ...)."""


class InvalidCapacityError(InvalidArgumentError):
    """A queue capacity is not an int in the allowed range."""


class ItemDecodeError(AtaraxisError, ValueError):
    """An item taken from a queue cannot be turned back into an object.

    The item has left the queue: ``raw`` holds its bytes, and ``items`` the other items of the
    same ``get_many``, in order, so nothing taken is lost.
    """

    raw: list[bytes]
    items: list[Any]


class UntrustedPickleError(ItemDecodeError, PermissionError):
    """A pickled item came from a segment whose pickles this process was not told to trust."""


class UnpicklableItemError(AtaraxisError, pickle.PicklingError, TypeError):
    """An item is neither bytes nor a numpy array, and pickle cannot serialise it either."""


class NotConnectedError(AtaraxisError, RuntimeError):
    """An operation needs a connected handle; call ``connect()`` first."""


class CreatorOnlyError(AtaraxisError, PermissionError):
    """Only the process that created a segment may destroy it."""


class LockTimeoutError(AtaraxisError, TimeoutError):
    """A lock was not acquired within the requested timeout."""


class LockReentryError(AtaraxisError, RuntimeError):
    """The calling thread already holds the lock it asked for."""


class ArrayIndexError(AtaraxisError, IndexError):
    """An index does not address the shared array."""


class DataMismatchError(AtaraxisError, ValueError):
    """Written data cannot be stored without loss (shape, dtype or value range)."""


class UnsupportedPlatformError(AtaraxisError, OSError):
    """The platform lacks what shared memory needs (Linux, /dev/shm and robust mutexes)."""


class QueueEmptyError(AtaraxisError, queue.Empty):
    """Nothing arrived in a queue within the timeout."""


class QueueFullError(AtaraxisError, queue.Full):
    """A queue stayed full for the whole timeout."""


class ItemTooLargeError(AtaraxisError, ValueError):
    """An item is larger than the whole queue could ever hold."""


class QueueClosedError(AtaraxisError, EOFError):
    """The queue was closed by its creator, or its creator died."""


class QueueFailedError(AtaraxisError, RuntimeError):
    """The queue's consumer reported a failure that stops the flow (for example a write error)."""


class LockOwnerDiedWarning(UserWarning):
    """A lock holder died while holding the lock: the data it guarded may be half-updated."""
