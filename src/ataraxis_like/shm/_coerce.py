"""Lossless conversion of user data to a shared array's dtype.

Writing 300 into a uint8 array, 3.7 into an int array or 1e300 into a float32 array must fail,
not wrap, truncate or become inf. A value is accepted when numpy casts it safely, when it is an
integer whose value fits, when it is a float holding an integral value that fits an integer
dtype, when a number only rounds to the nearest value a float or complex dtype holds (finite
stays finite), when text fits the field, or when a datetime or timedelta survives the change
of unit unchanged. Structured data is checked field by field with the same rules.

``ElementRule`` is the per-array shortcut for scalars: the types whose plain numpy assignment is
always lossless skip the general check, so an element write costs little more than numpy's own.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import DataMismatchError

_NUMERIC_KINDS = "biufc"
_NUMPY_TWO = int(np.__version__.split(".")[0]) >= 2
"""numpy 2 raises OverflowError for a Python int out of an integer dtype's range; 1.26 wraps it
(with a DeprecationWarning), so there every Python int goes through the range check."""
_NUMPY_SCALAR_TYPES = frozenset(
    kind
    for kind in set(np.sctypeDict.values())
    if issubclass(kind, np.generic) and np.dtype(kind).kind in _NUMERIC_KINDS
)
_PYTHON_EQUIVALENTS: dict[type, type] = {bool: np.bool_, float: np.float64, complex: np.complex128}


class ElementRule:
    """What an array of ``target`` dtype takes without the general check.

    ``fast``: value types whose assignment is lossless or raises OverflowError (which the
    caller turns into the typed error); ``bounds``: the range a Python int must lie in for an
    integer dtype under numpy 1.x; ``limit``: the largest finite value of a float16/float32
    dtype, which a Python int or float within it reaches by rounding alone.
    """

    __slots__ = ("bounds", "fast", "limit")

    def __init__(self, target: np.dtype[Any]) -> None:
        kind = target.kind
        fast: set[type] = set()
        self.bounds: tuple[int, int] | None = None
        self.limit: float | None = None
        if kind in _NUMERIC_KINDS:
            fast = {t for t in _NUMPY_SCALAR_TYPES if np.can_cast(t, target, "safe")}
            fast |= {p for p, n in _PYTHON_EQUIVALENTS.items() if np.can_cast(n, target, "safe")}
        if kind in "iu":
            info = np.iinfo(target)
            self.bounds = (int(info.min), int(info.max))
            if _NUMPY_TWO:
                fast.add(int)
        elif kind in "fc" and target.itemsize >= (8 if kind == "f" else 16):
            fast.add(int)  # too large for a double: OverflowError, never inf
        elif kind == "f":
            self.limit = float(np.finfo(target).max)
        self.fast = frozenset(fast)

    def accepts(self, data: Any) -> bool:
        """True when ``data`` may be assigned as it is (checked after ``fast`` missed)."""
        kind = type(data)
        bounds = self.bounds
        if bounds is not None:
            return kind is int and bounds[0] <= data <= bounds[1]
        limit = self.limit
        return limit is not None and (kind is float or kind is int) and -limit <= data <= limit


def lossless(data: Any, target: np.dtype[Any], label: str) -> Any:
    """Return ``data`` as ``target`` dtype values, or raise DataMismatchError naming ``label``."""
    try:
        return _convert(data, target)
    except _LossyError as lossy:
        raise mismatch(data, target, label, str(lossy)) from None


class _LossyError(Exception):
    """Raised inside the conversion with the reason; ``lossless`` makes the typed error."""


def _convert(data: Any, target: np.dtype[Any]) -> np.ndarray:
    if target.names is not None:
        return _structured(data, target)
    if target.subdtype is not None:  # a subarray field: its elements follow the element rules
        return _convert(data, target.base)
    kind = target.kind
    values = data if isinstance(data, np.ndarray) else _natural(data)
    if values.dtype.hasobject and kind in "fc" and all(type(v) is int for v in values.flat):
        try:  # integers beyond 64 bits (numpy keeps them as objects): round them as doubles
            values = values.astype(np.float64)
        except OverflowError:
            raise _LossyError("an integer is larger than any float") from None
    source = values.dtype
    if source == target:
        return values
    if kind in "Mm":
        return _time(values, target)
    if kind in "US":  # text from text only: numbers and bools are not text
        if source.kind not in "US":
            raise _LossyError(f"it is {source}")
        _require_text(values, target)
        return values
    if np.can_cast(source, target, "safe"):
        return values
    if kind in "iu" and source.kind in "iuf":
        _require_integers(values, target)
        return values.astype(target)
    if kind in "fc" and source.kind in ("iuf" if kind == "f" else "iufc"):
        return _rounded(values, target)
    raise _LossyError(f"it is {source}")


def _natural(data: Any) -> np.ndarray:
    """``data`` as numpy infers it; nested sequences of unequal length are refused."""
    try:
        return np.asarray(data)
    except Exception as error:  # ragged, mixed or undecodable data: numpy raises many kinds
        raise _LossyError(f"numpy cannot make an array of it: {error}") from None


def _require_integers(values: np.ndarray, target: np.dtype[Any]) -> None:
    if values.size == 0:
        return
    if values.dtype.kind == "f" and not (
        np.all(np.isfinite(values)) and np.all(np.floor(values) == values)
    ):
        raise _LossyError(f"it is {values.dtype} with a fractional or non-finite value")
    info = np.iinfo(target)
    # Python scalars compare exactly: float64(2**63) <= int64 max is True in numpy, not here.
    if not (values.min().item() >= int(info.min) and values.max().item() <= int(info.max)):
        raise _LossyError(f"it is {values.dtype} with a value outside [{info.min}, {info.max}]")


def _rounded(values: np.ndarray, target: np.dtype[Any]) -> np.ndarray:
    """Numbers into a float or complex dtype: rounding is accepted, overflow to inf is not."""
    with np.errstate(over="ignore", invalid="ignore"):
        converted = values.astype(target)
    if values.dtype.kind in "iu":
        overflowed = np.isinf(converted)
    else:
        overflowed = np.isinf(converted) & np.isfinite(values)
    if np.any(overflowed):
        raise _LossyError(f"a value of {values.dtype} exceeds the largest {target}")
    return converted


def _require_text(values: np.ndarray, target: np.dtype[Any]) -> None:
    """Text of at most the field's length, ASCII where bytes and str meet."""
    if values.size == 0:
        return
    source = values.dtype.kind
    try:
        if target.kind == "S" and source == "U":
            values = np.char.encode(values, "ascii")
        elif target.kind == "U" and source == "S":
            values = np.char.decode(values, "ascii")
    except (UnicodeEncodeError, UnicodeDecodeError):
        raise _LossyError("it is not ASCII text") from None
    limit = target.itemsize // (4 if target.kind == "U" else 1)
    if int(np.char.str_len(values).max()) > limit:
        raise _LossyError(f"text longer than {limit} characters")


def _time(values: np.ndarray, target: np.dtype[Any]) -> np.ndarray:
    """Datetimes into datetimes, timedeltas into timedeltas, when the unit change loses nothing."""
    if values.dtype.kind != target.kind:
        raise _LossyError(f"it is {values.dtype}")
    converted = values.astype(target)
    if not np.array_equal(converted.astype(values.dtype), values, equal_nan=True):
        raise _LossyError(f"it is {values.dtype}, finer than {target} holds")
    return converted


def _structured(data: Any, target: np.dtype[Any]) -> np.ndarray:
    """Records (a tuple, a structured array or scalar, or sequences of them) field by field.

    Fields pair by position, as numpy assigns them; every field's values must convert
    losslessly to the target field's dtype.
    """
    names = target.names
    assert names is not None
    if isinstance(data, np.ndarray | np.void) and data.dtype.names is not None:
        if data.dtype == target:
            return np.asarray(data)
        records, source_names = data, data.dtype.names
    else:
        loose = _object_fields(target)
        try:
            records = np.array(data, dtype=loose)
        except (ValueError, TypeError) as error:
            raise _LossyError(f"not records of {len(names)} fields ({error})") from None
        source_names = names
    if len(source_names) != len(names):
        raise _LossyError(f"records of {len(source_names)} fields, not {len(names)}")
    result = np.empty(np.shape(records), dtype=target)
    for source_name, name in zip(source_names, names, strict=True):
        column = records[source_name]
        if isinstance(column, np.ndarray) and column.dtype.hasobject and column.dtype.names is None:
            column = _natural(column.tolist())
        field = target.fields[name][0]  # type: ignore[index]
        try:
            result[name] = _convert(column, field)
        except _LossyError as lossy:
            raise _LossyError(f"field {name!r}: {lossy}") from None
        except (ValueError, TypeError) as error:  # a field of the wrong shape
            raise _LossyError(f"field {name!r}: {error}") from None
    return result


def _object_fields(target: np.dtype[Any]) -> np.dtype[Any]:
    """``target`` with every leaf field replaced by Python objects (subarray shapes kept), so
    numpy splits records into fields without converting (and so rounding) any value."""
    fields = []
    for name in target.names or ():
        field = target.fields[name][0]  # type: ignore[index]
        base, shape = (field.base, field.shape) if field.subdtype is not None else (field, ())
        leaf = _object_fields(base) if base.names is not None else np.dtype(object)
        fields.append((name, leaf, shape) if shape else (name, leaf))
    return np.dtype(fields)


def mismatch(data: Any, target: np.dtype[Any], label: str, reason: str) -> DataMismatchError:
    """The typed error for a value ``label`` cannot hold: what, expected, got, how to fix."""
    shown = repr(data)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return DataMismatchError(
        f"{label} holds {target} and cannot store {shown} without loss ({reason}); "
        f"convert the data to {target} values that fit",
        label=label,
        expected=str(target),
    )
