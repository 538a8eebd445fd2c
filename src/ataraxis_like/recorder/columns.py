"""Columnar storage of one recorder node's records.

Values arrive one record at a time into a plain Python list per column (the cheapest thing a
push can do) and become numpy columns a chunk at a time. A column's dtype follows what it held:

- only ``bool`` (or ``numpy.bool_``): ``bool``;
- only ints: ``int64`` (numpy integer scalars keep their dtype);
- floats, or ints mixed with floats: ``float64`` (numpy float scalars keep theirs);
- only ``str``: numpy fixed-width unicode, widened when a longer string arrives;
- anything else (None, lists, arrays, bools mixed with numbers, text mixed with numbers):
  an ``object`` column holding the Python values as given.

A record without a value for a column is *missing* there; a boolean mask per column marks it
(no mask is kept until the first missing value, so dense columns cost nothing extra).
"""

from __future__ import annotations

from typing import Any, Final

import numpy as np
import numpy.typing as npt

from ._errors import RecordValueError

CHUNK_ROWS: Final = 4096
"""Rows a node holds as Python values before turning them into numpy (bounds pending memory)."""

_OBJECT = np.dtype(object)
_FLOAT = np.dtype(np.float64)


class _Missing:
    """The marker of an absent value (unique, falsy, and clear in a repr)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False

    def __reduce__(self) -> str:
        return "MISSING"


MISSING: Final[Any] = _Missing()

_CATEGORY: dict[type, str] = {float: "f", int: "i", bool: "b", str: "U"}


def category(kind: type) -> str:
    """'b', 'i', 'f', 'U' or 'O': how values of ``kind`` may share a typed column."""
    found = _CATEGORY.get(kind)
    if found is None:
        if issubclass(kind, np.bool_):
            found = "b"
        elif issubclass(kind, np.integer):
            found = "i"
        elif issubclass(kind, np.floating):
            found = "f"
        elif issubclass(kind, str) and kind.__eq__ is str.__eq__:
            found = "U"
        else:
            found = "O"
        _CATEGORY[kind] = found
    return found


def object_array(values: list[Any]) -> npt.NDArray[Any]:
    """An object array holding ``values`` as given (never broadcast into nested arrays)."""
    return np.fromiter(values, dtype=_OBJECT, count=len(values))


def typed_array(values: list[Any]) -> npt.NDArray[Any]:
    """``values`` (no MISSING among them) as the tightest lossless 1-D array, per the rules."""
    if not values:
        return np.empty(0, _FLOAT)
    kinds = {category(kind) for kind in set(map(type, values))}
    if kinds == {"f"} or kinds == {"i", "f"}:
        accepted = "f"
    elif len(kinds) == 1 and "O" not in kinds:
        accepted = next(iter(kinds)) + ("u" if "i" in kinds else "")
    else:
        return object_array(values)
    try:
        array = np.array(values)
    except (OverflowError, ValueError):
        return object_array(values)
    if array.ndim != 1 or array.dtype.kind not in accepted:
        return object_array(values)
    return array


def promote(first: np.dtype[Any], second: np.dtype[Any]) -> np.dtype[Any]:
    """The dtype that holds values of both without loss (``object`` when nothing else does)."""
    if first == second:
        return first
    one, two = first.kind, second.kind
    if one in "iuf" and two in "iuf":
        wanted = np.result_type(first, second)
        if one in "iu" and two in "iu" and wanted.kind == "f":
            return _OBJECT
        return wanted
    if one == two == "U":
        return first if first.itemsize >= second.itemsize else second
    return _OBJECT


def chunk_array(
    values: list[Any], has_missing: bool
) -> tuple[npt.NDArray[Any], npt.NDArray[np.bool_] | None, bool]:
    """A chunk of pending values as (data, mask or None, typed).

    ``typed`` is False when the chunk holds no value at all: its dtype then says nothing.
    """
    if not has_missing:
        return typed_array(values), None, True
    mask = np.fromiter([value is MISSING for value in values], dtype=bool, count=len(values))
    present = [value for value in values if value is not MISSING]
    if not present:
        return np.zeros(len(values), _FLOAT), mask, False
    array = typed_array(present)
    data = (
        np.zeros(len(values), array.dtype)
        if array.dtype != _OBJECT
        else object_array([None] * len(values))
    )
    data[~mask] = array
    return data, mask, True


class Column:
    """One column of a node: ``data[:size]`` with ``mask`` (True = missing) when any is missing."""

    __slots__ = ("data", "mask", "size", "typed")

    def __init__(self) -> None:
        self.data: npt.NDArray[Any] = np.empty(0, _FLOAT)
        self.mask: npt.NDArray[np.bool_] | None = None
        self.size = 0
        self.typed = False

    @classmethod
    def from_arrays(
        cls, data: npt.NDArray[Any], mask: npt.NDArray[np.bool_] | None, typed: bool = True
    ) -> Column:
        column = cls()
        column.data = data
        column.mask = mask if mask is not None and bool(mask.any()) else None
        column.size = len(data)
        column.typed = typed
        return column

    def _reserve(self, needed: int) -> None:
        capacity = len(self.data)
        if needed <= capacity:
            return
        capacity = max(needed, 2 * capacity, 256)
        data = np.empty(capacity, self.data.dtype)
        data[: self.size] = self.data[: self.size]
        self.data = data
        if self.mask is not None:
            mask = np.zeros(capacity, bool)
            mask[: self.size] = self.mask[: self.size]
            self.mask = mask

    def _adopt(self, dtype: np.dtype[Any], typed: bool) -> None:
        if not typed:
            return
        if not self.typed:
            self.data = (
                np.zeros(len(self.data), dtype)
                if dtype != _OBJECT
                else object_array([None] * len(self.data))
            )
            self.typed = True
        else:
            wanted = promote(self.data.dtype, dtype)
            if wanted != self.data.dtype:
                self.data = self.data.astype(wanted)

    def pad_missing(self, count: int) -> None:
        """Append ``count`` missing values (a column born after rows already exist)."""
        if count:
            self.extend(np.zeros(count, _FLOAT), np.ones(count, bool), typed=False)

    def extend(
        self, data: npt.NDArray[Any], mask: npt.NDArray[np.bool_] | None, typed: bool = True
    ) -> None:
        """Append a chunk made by ``chunk_array``."""
        count = len(data)
        self._adopt(data.dtype, typed)
        self._reserve(self.size + count)
        start, stop = self.size, self.size + count
        if typed:
            self.data[start:stop] = data
        if mask is not None:
            if self.mask is None:
                self.mask = np.zeros(len(self.data), bool)
            self.mask[start:stop] = mask
        elif self.mask is not None:
            self.mask[start:stop] = False
        self.size = stop

    def view(self) -> tuple[npt.NDArray[Any], npt.NDArray[np.bool_] | None]:
        """The filled part: (data, mask or None). Views, not copies: do not keep them long."""
        mask = None if self.mask is None else self.mask[: self.size]
        return self.data[: self.size], mask

    def value(self, index: int) -> Any:
        """The Python value at ``index``, or MISSING."""
        if self.mask is not None and self.mask[index]:
            return MISSING
        return self.data.item(index)

    @property
    def nbytes(self) -> int:
        return self.data.nbytes + (0 if self.mask is None else self.mask.nbytes)


class ColumnTable:
    """A node's records: flushed numpy columns plus a list of pending values per column.

    Every pending list has ``length - flushed`` entries. ``ragged`` names the columns whose
    pending list holds MISSING.
    """

    __slots__ = ("columns", "flushed", "length", "pending", "ragged")

    def __init__(self) -> None:
        self.columns: dict[str, Column] = {}
        self.pending: dict[str, list[Any]] = {}
        self.length = 0
        self.flushed = 0
        self.ragged: set[str] = set()

    def append_row(self, values: dict[str, Any]) -> None:
        """Append one record whose keys differ from the pending columns' (the slow path)."""
        pending = self.pending
        waiting = self.length - self.flushed
        for key, value in values.items():
            column = pending.get(key)
            if column is None:
                if not isinstance(key, str):
                    raise RecordValueError(
                        f"record field names must be str (got {type(key).__name__} {key!r}); "
                        "use text names such as 'loss'",
                        key=repr(key),
                    )
                column = pending[key] = [MISSING] * waiting
                if waiting:
                    self.ragged.add(key)
            column.append(value)
        if len(values) != len(pending):
            for key, column in pending.items():
                if key not in values:
                    column.append(MISSING)
                    self.ragged.add(key)
        self.length += 1

    def flush(self) -> None:
        """Turn every pending value into numpy."""
        if self.length == self.flushed:
            return
        ragged = self.ragged
        for key, values in self.pending.items():
            column = self.columns.get(key)
            if column is None:
                column = self.columns[key] = Column()
                column.pad_missing(self.flushed)
            column.extend(*chunk_array(values, key in ragged))
            values.clear()
        ragged.clear()
        self.flushed = self.length

    def adopt(self, columns: dict[str, Column], length: int) -> None:
        """Take loaded columns (each ``length`` long) as this table's content."""
        self.columns = dict(columns)
        self.pending = {key: [] for key in columns}
        self.length = self.flushed = length
        self.ragged = set()

    @property
    def nbytes(self) -> int:
        return sum(column.nbytes for column in self.columns.values())
