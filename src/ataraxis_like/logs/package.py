"""LogPackage: one entry for the DataLogger, validated where it is made (in the producer)."""

from __future__ import annotations

import struct
from typing import Any

import numpy as np

from ..errors import AtaraxisError

PACKAGE_META = struct.Struct("<BQ")  # source id, acquisition time
_pack_meta = PACKAGE_META.pack
_unpack_meta = PACKAGE_META.unpack
_MAX_TIME = 2**64 - 1
_UINT8 = np.dtype(np.uint8)
_NUMPY_UNSIGNED = frozenset({np.uint8, np.uint16, np.uint32, np.uint64})
_INTEGER_TYPES = frozenset(
    {int, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64}
)
"""Types whose value struct packing checks fully (bool and np.bool_ are not among them)."""


class InvalidPackageError(AtaraxisError, TypeError):
    """A LogPackage field has the wrong type."""


class PackageValueError(AtaraxisError, ValueError):
    """A LogPackage field has the right type but an impossible value."""


def _integer(value: Any, field: str, high: int) -> int:
    if type(value) in _NUMPY_UNSIGNED:
        number = int(value)  # a Python int compares far faster than a numpy scalar
        if number <= high:
            return number
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise InvalidPackageError(
            f"LogPackage.{field} must be an int (got {value!r} that is a "
            f"{type(value).__name__}); pass an integer",
            field=field,
        )
    number = int(value)
    if not 0 <= number <= high:
        raise PackageValueError(
            f"LogPackage.{field} must be in [0, {high}] (got {number}); pass a value in range",
            field=field,
        )
    return number


def _payload(value: Any) -> np.ndarray:
    if isinstance(value, np.ndarray):
        if value.dtype != np.uint8 or value.ndim != 1:
            raise InvalidPackageError(
                f"LogPackage.serialized_data must be a 1-D uint8 array (got {value.ndim}-D "
                f"{value.dtype}); serialize with np.frombuffer(x.tobytes(), np.uint8)",
                field="serialized_data",
            )
        return value
    if isinstance(value, memoryview) and not value.c_contiguous:
        return np.frombuffer(value.tobytes(), dtype=np.uint8)  # a strided view: its bytes, in order
    if isinstance(value, bytes | bytearray | memoryview):
        return np.frombuffer(value, dtype=np.uint8)
    raise InvalidPackageError(
        f"LogPackage.serialized_data must be a 1-D uint8 array or bytes (got "
        f"{type(value).__name__}); serialize it to bytes first",
        field="serialized_data",
    )


class LogPackage:
    """One log entry: who produced it, when (microseconds since the logger's onset), the bytes.

    The two numbers are checked and packed in one step, into the bytes the queue carries; the
    payload is kept as the array (or a view of the bytes) given. ``source_id`` and
    ``acquisition_time`` read back as ints.
    """

    __slots__ = ("meta", "serialized_data")

    def __init__(self, source_id: Any, acquisition_time: Any, serialized_data: Any) -> None:
        # This runs in acquisition loops: ints and numpy integers in range, and 1-D uint8
        # arrays, take the short path; anything else gets the full check and its typed error.
        if type(source_id) in _INTEGER_TYPES and type(acquisition_time) in _INTEGER_TYPES:
            try:
                self.meta = _pack_meta(source_id, acquisition_time)
            except struct.error:
                self.meta = _checked_meta(source_id, acquisition_time)
        else:
            self.meta = _checked_meta(source_id, acquisition_time)
        if (
            type(serialized_data) is np.ndarray
            and serialized_data.dtype is _UINT8
            and serialized_data.ndim == 1
        ):
            self.serialized_data = serialized_data
        else:
            self.serialized_data = _payload(serialized_data)

    @property
    def source_id(self) -> int:
        return int(self.meta[0])

    @property
    def acquisition_time(self) -> int:
        return int(_unpack_meta(self.meta)[1])

    def __reduce__(self) -> tuple[Any, ...]:
        return LogPackage, (self.source_id, self.acquisition_time, self.serialized_data)

    def __repr__(self) -> str:
        return (
            f"LogPackage(source_id={self.source_id}, acquisition_time={self.acquisition_time}, "
            f"serialized_data=<{self.serialized_data.size} bytes>)"
        )

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, LogPackage)
            and self.meta == other.meta
            and np.array_equal(self.serialized_data, other.serialized_data)
        )

    __hash__ = None  # type: ignore[assignment]


def _checked_meta(source_id: Any, acquisition_time: Any) -> bytes:
    """The packed numbers after the full check, which raises the typed error for bad ones."""
    return _pack_meta(
        _integer(source_id, "source_id", 255),
        _integer(acquisition_time, "acquisition_time", _MAX_TIME),
    )
