"""Selections of records: filtering, flat columns and DataFrames.

A selection is a list of (node, rows) parts. A condition on a field that a node inherits is
decided once for the whole node; a condition on a column is one vectorised numpy comparison per
node. Nothing here walks records one by one unless a per-record predicate asks for it.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import reduce
from typing import TYPE_CHECKING, Any, overload

import numpy as np
import numpy.typing as npt

from ._errors import OptionalDependencyError
from .columns import MISSING, category, object_array, promote

if TYPE_CHECKING:
    from .node import Node, Record

Rows = int | npt.NDArray[np.int64]
"""A node's selected rows: ``n`` means rows ``0..n-1``; an array lists row indices."""

_FLOAT = np.dtype(np.float64)


def _equal(value: Any, wanted: Any) -> bool:
    try:
        result = value == wanted
        if isinstance(result, bool | np.bool_):
            return bool(result)
        return bool(np.all(result)) and np.shape(value) == np.shape(wanted)
    except (TypeError, ValueError):
        return False


def _matches(value: Any, wanted: Any) -> bool:
    if value is MISSING:
        return False
    if callable(wanted):
        return bool(wanted(value))
    return _equal(value, wanted)


def _match_array(values: npt.NDArray[Any], wanted: Any) -> npt.NDArray[np.bool_]:
    """Truth per element: equality, or ``wanted(values)`` for a callable (element-wise if the
    callable does not take arrays)."""
    if callable(wanted):
        try:
            result = wanted(values)
        except Exception:
            result = None
        if isinstance(result, np.ndarray) and result.shape == values.shape:
            return result.astype(bool, copy=False)
        return np.fromiter(
            (bool(wanted(value)) for value in values.tolist()), dtype=bool, count=len(values)
        )
    if values.dtype.kind == "O":
        return np.fromiter(
            (_equal(value, wanted) for value in values), dtype=bool, count=len(values)
        )
    result = values == wanted
    if not isinstance(result, np.ndarray):
        return np.zeros(len(values), bool)
    return result


def filled(value: Any, count: int) -> npt.NDArray[Any]:
    """``count`` copies of a field value as a 1-D array (object for non-scalar values)."""
    if category(type(value)) != "O":
        try:
            array = np.full(count, value)
            if array.ndim == 1:
                return array
        except (OverflowError, ValueError):
            pass
    return object_array([value] * count)


def _take(array: npt.NDArray[Any], rows: Rows) -> npt.NDArray[Any]:
    return array[:rows] if isinstance(rows, int) else array[rows]


def _count(rows: Rows) -> int:
    return rows if isinstance(rows, int) else len(rows)


class Records(Sequence["Record"]):
    """A read-only sequence of records (a snapshot: later pushes do not appear in it)."""

    __slots__ = ("_offsets", "_parts", "_record_type")

    def __init__(self, parts: list[tuple[Node, Rows]], record_type: type[Record]) -> None:
        self._parts = [(node, rows) for node, rows in parts if _count(rows)]
        self._record_type = record_type
        offsets = [0]
        for _, rows in self._parts:
            offsets.append(offsets[-1] + _count(rows))
        self._offsets = offsets

    @classmethod
    def of_nodes(cls, nodes: Iterable[Node], record_type: type[Record]) -> Records:
        parts: list[tuple[Node, Rows]] = []
        for node in nodes:
            node.flush()
            parts.append((node, len(node)))
        return cls(parts, record_type)

    @classmethod
    def of_subtree(cls, node: Node, record_type: type[Record]) -> Records:
        return cls.of_nodes(node.walk(), record_type)

    @property
    def nodes(self) -> list[Node]:
        """The nodes holding at least one selected record, in order."""
        return [node for node, _ in self._parts]

    def __len__(self) -> int:
        return self._offsets[-1]

    @overload
    def __getitem__(self, index: int) -> Record: ...

    @overload
    def __getitem__(self, index: slice) -> Records: ...

    def __getitem__(self, index: int | slice) -> Record | Records:
        if isinstance(index, slice):
            return self._select(np.arange(len(self))[index])
        total = len(self)
        position = index + total if index < 0 else index
        if not 0 <= position < total:
            raise IndexError(f"record index {index} is out of range for {total} records")
        part = bisect.bisect_right(self._offsets, position) - 1
        node, rows = self._parts[part]
        row = position - self._offsets[part]
        return self._record_type(node, row if isinstance(rows, int) else int(rows[row]))

    def _select(self, positions: npt.NDArray[Any]) -> Records:
        parts: list[tuple[Node, Rows]] = []
        offsets = np.asarray(self._offsets)
        owners = np.searchsorted(offsets, positions, side="right") - 1
        start = 0
        while start < len(positions):
            owner = owners[start]
            stop = start
            while stop < len(positions) and owners[stop] == owner:
                stop += 1
            node, rows = self._parts[owner]
            local = positions[start:stop] - offsets[owner]
            chosen = local if isinstance(rows, int) else rows[local]
            parts.append((node, chosen.astype(np.int64)))
            start = stop
        return Records(parts, self._record_type)

    def __iter__(self) -> Iterator[Record]:
        make = self._record_type
        for node, rows in self._parts:
            for row in range(rows) if isinstance(rows, int) else rows.tolist():
                yield make(node, row)

    def __repr__(self) -> str:
        return f"<Records: {len(self)} records from {len(self._parts)} nodes>"

    def where(self, _predicate: Callable[[Record], Any] | None = None, /, **fields: Any) -> Records:
        """The records whose ``fields`` match (and for which ``_predicate(record)`` is true).

        ``where(model="m1", training=True)`` compares by ``==``; a value may instead be a
        callable: for a column it receives the numpy array of values (``loss=lambda v: v < 0.5``
        runs vectorised; a callable that cannot take arrays is applied value by value), for an
        inherited field the field's value. A condition on an inherited field is decided once per
        node. ``_predicate`` is called per record: the general, slower path.
        """
        parts: list[tuple[Node, Rows]] = []
        for node, rows in self._parts:
            kept: Rows | None = rows
            for key, wanted in fields.items():
                kept = _filter_part(node, kept, key, wanted)
                if kept is None:
                    break
            if kept is not None:
                parts.append((node, kept))
        selection = Records(parts, self._record_type)
        if _predicate is None:
            return selection
        make = self._record_type
        narrowed: list[tuple[Node, Rows]] = []
        for node, rows in selection._parts:
            indices = range(rows) if isinstance(rows, int) else rows.tolist()
            chosen = [row for row in indices if _predicate(make(node, row))]
            narrowed.append((node, np.asarray(chosen, dtype=np.int64)))
        return Records(narrowed, self._record_type)

    def where_fields(self, predicate: Callable[[dict[str, Any]], Any]) -> Records:
        """The records of nodes whose merged inherited fields satisfy ``predicate`` (per node)."""
        parts = [(node, rows) for node, rows in self._parts if predicate(node.lineage_fields())]
        return Records(parts, self._record_type)

    def keys(self) -> list[str]:
        """Every key some selected record has: column names first, then inherited fields."""
        seen: dict[str, None] = {}
        for node, _ in self._parts:
            seen.update(dict.fromkeys(node._table.columns))
        for node, _ in self._parts:
            seen.update(dict.fromkeys(node.lineage_fields()))
        return list(seen)

    def column(self, key: str) -> np.ma.MaskedArray[Any, Any]:
        """One key over the selection, fields broadcast, missing values masked."""
        segments: list[tuple[npt.NDArray[Any] | None, npt.NDArray[np.bool_] | None, int]] = []
        for node, rows in self._parts:
            count = _count(rows)
            column = node._table.columns.get(key)
            field = node.resolve(key)
            if column is not None and column.typed:
                data, mask = column.view()
                values: npt.NDArray[Any] = _take(data, rows)
                missing = None if mask is None else _take(mask, rows)
                if missing is not None and field is not MISSING and missing.any():
                    fill = filled(field, count)
                    values = values.astype(promote(values.dtype, fill.dtype))
                    values[missing] = fill[missing]
                    missing = None
                segments.append((values, missing, count))
            elif field is not MISSING:
                segments.append((filled(field, count), None, count))
            else:
                segments.append((None, None, count))
        dtypes = [values.dtype for values, _, _ in segments if values is not None]
        dtype = reduce(promote, dtypes) if dtypes else _FLOAT
        total = len(self)
        result = object_array([None] * total) if dtype.kind == "O" else np.zeros(total, dtype)
        mask = np.zeros(total, bool)
        position = 0
        for segment, segment_missing, count in segments:
            stop = position + count
            if segment is None:
                mask[position:stop] = True
            else:
                result[position:stop] = segment
                if segment_missing is not None:
                    mask[position:stop] = segment_missing
            position = stop
        return np.ma.MaskedArray(result, mask=mask)

    def to_columns(
        self, keys: Iterable[str] | None = None
    ) -> dict[str, np.ma.MaskedArray[Any, Any]]:
        """Flat columns: one masked array per key, in record order (fields broadcast)."""
        return {key: self.column(key) for key in (self.keys() if keys is None else keys)}

    def to_pandas(self, keys: Iterable[str] | None = None) -> Any:
        """A DataFrame of ``to_columns()``: missing floats become NaN, missing ints and bools
        pandas' nullable types, other missing values None."""
        try:
            import pandas as pd  # type: ignore[import-untyped, import-not-found, unused-ignore]
        except ImportError as error:
            raise OptionalDependencyError(
                "to_pandas needs pandas, which is not installed; run `pip install pandas` or use "
                "to_columns() for numpy arrays",
                package="pandas",
            ) from error
        data: dict[str, Any] = {}
        for key, column in self.to_columns(keys).items():
            mask = np.ma.getmaskarray(column)
            values = np.ma.getdata(column)
            if not mask.any():
                data[key] = values
            elif values.dtype.kind == "f":
                data[key] = np.where(mask, np.nan, values)
            elif values.dtype.kind in "iu":
                data[key] = pd.arrays.IntegerArray(values, mask)
            elif values.dtype.kind == "b":
                data[key] = pd.arrays.BooleanArray(values, mask)
            else:
                objects = values.astype(object)
                objects[mask] = None
                data[key] = objects
        return pd.DataFrame(data)


def _filter_part(node: Node, rows: Rows | None, key: str, wanted: Any) -> Rows | None:
    """The rows of ``node`` (among ``rows``) whose ``key`` matches ``wanted``; None if none."""
    if rows is None:
        return None
    column = node._table.columns.get(key)
    field = node.resolve(key)
    if column is None or not column.typed:
        return rows if _matches(field, wanted) else None
    data, mask = column.view()
    hit = _match_array(_take(data, rows), wanted)
    if mask is not None:
        missing = _take(mask, rows)
        if missing.any():
            hit &= ~missing
            if _matches(field, wanted):
                hit |= missing
    if hit.all():
        return rows
    if not hit.any():
        return None
    return np.flatnonzero(hit) if isinstance(rows, int) else rows[hit]
