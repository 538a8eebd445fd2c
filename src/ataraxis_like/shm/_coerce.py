"""Lossless conversion of user data to a shared array's dtype.

Writing 300 into a uint8 array or 3.7 into an int array must fail, not wrap or truncate. A value
is accepted when numpy casts it safely, when it is an integer whose value fits, when it is a float
holding an integral value that fits an integer dtype, or when it only loses float precision.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import DataMismatchError


def _fits_integer(values: np.ndarray, target: np.dtype[Any]) -> bool:
    if values.size == 0:
        return True
    info = np.iinfo(target)
    if values.dtype.kind == "f" and not (
        np.all(np.isfinite(values)) and np.all(np.floor(values) == values)
    ):
        return False
    return bool(values.min() >= info.min and values.max() <= info.max)


def _fits_text(values: np.ndarray, target: np.dtype[Any]) -> bool:
    if values.size == 0:
        return True
    if target.kind == "S" and values.dtype.kind == "U":
        try:
            values = np.char.encode(values, "ascii")
        except UnicodeEncodeError:
            return False
    limit = target.itemsize // (4 if target.kind == "U" else 1)
    return bool(np.char.str_len(values).max() <= limit)


def lossless(data: Any, target: np.dtype[Any], label: str) -> np.ndarray:
    """Return ``data`` as ``target`` dtype values, or raise DataMismatchError naming ``label``."""
    if target.kind == "V":
        try:
            if (
                isinstance(data, np.ndarray | np.void)
                and data.dtype != target
                and not np.can_cast(data.dtype, target, "safe")
            ):
                raise TypeError(f"cannot cast {data.dtype} safely")
            return np.asarray(data, dtype=target)
        except (TypeError, ValueError, OverflowError) as error:
            raise _mismatch(data, target, label, str(error)) from None
    try:
        values = data if isinstance(data, np.ndarray) else np.asarray(data)
    except Exception as error:  # ragged, mixed or undecodable data: numpy raises many kinds
        raise _mismatch(data, target, label, f"numpy cannot make an array of it: {error}") from None
    source = values.dtype
    if source == target or np.can_cast(source, target, "safe"):
        return values
    kind = target.kind
    accepted = (
        (kind in "iu" and source.kind in "iuf" and _fits_integer(values, target))
        or (kind == "f" and source.kind in "iuf")
        or (kind == "c" and source.kind in "iufc")
        or (kind in "US" and source.kind in "US" and _fits_text(values, target))
    )
    if not accepted:
        raise _mismatch(data, target, label, f"it is {source}")
    try:
        return values.astype(target)
    except UnicodeError as error:  # bytes that are not ASCII cannot become text
        raise _mismatch(data, target, label, str(error)) from None


def _mismatch(data: Any, target: np.dtype[Any], label: str, reason: str) -> DataMismatchError:
    shown = repr(data)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return DataMismatchError(
        f"{label} holds {target} and cannot store {shown} without loss ({reason}); "
        f"convert the data to {target} values that fit",
        label=label,
        expected=str(target),
    )
