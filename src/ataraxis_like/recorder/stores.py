"""Keyed series stores: the common interface, the rules every store enforces, the memory store.

A *series* is what ``append(key, value)`` builds: values recorded one after another under a key
such as ``"train/loss"``. Its first value fixes its *schema* (dtype and shape, or text); later
values must convert without loss: numpy values by numpy's safe casting, Python numbers by value
(an int that fits, any int or float into a float series). Keys are names joined by ``/``; a key
cannot also be a prefix of another key (``a`` and ``a/b``), because HDF5 cannot hold both.

``get(key)`` returns an array-like (``len``, ``[i]``, ``[a:b]``, ``numpy.asarray``): a numpy
array from memory and Redis, a lazy view from HDF5. Text series read as numpy ``str`` arrays.

Any other picklable value is kept only by a store opened with ``allow_pickle=True``: a series
whose first value is neither a number, a numeric array nor text then holds pickled values (a
list when read; lazy from HDF5). Reading them back also needs ``allow_pickle=True``, because
unpickling runs code chosen by whoever wrote the data: use it only for data you wrote yourself.
"""

from __future__ import annotations

import abc
import ast
import pickle
from collections.abc import Collection, Container, Iterable, Iterator, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

import numpy as np
import numpy.typing as npt

from ..hdf5._schema import RESERVED, key_parts
from ._errors import RecordValueError, SeriesKeyError, StoreClosedError, UntrustedPickleError

Rows = Sequence[Any] | npt.NDArray[Any]
"""Coerced values for ``_append_many``: a list, or an array whose first axis counts values."""
_NUMERIC_KINDS = "biufc"


def normalize_key(key: object) -> str:
    """``key`` as a clean series path ("a/b/c"), or SeriesKeyError saying what is wrong."""
    if not isinstance(key, str):
        raise SeriesKeyError(
            f"series key must be a str such as 'train/loss' (got {type(key).__name__} {key!r}); "
            "pass the key as text",
            key=repr(key),
        )
    parts = key_parts(key)
    if parts is None:
        raise SeriesKeyError(
            f"series key {key!r} is malformed: expected names joined by '/', such as "
            "'train/loss', without empty, '.' or '..' parts; rename the key",
            key=key,
        )
    if parts[0] == RESERVED:
        raise SeriesKeyError(
            f"series key {key!r} starts with the reserved name {RESERVED!r}; use another name",
            key=key,
        )
    return "/".join(parts)


def prefixes(key: str) -> Iterator[str]:
    """The proper prefixes of a normalized key: "a/b/c" gives "a" and "a/b"."""
    parts = key.split("/")
    for end in range(1, len(parts)):
        yield "/".join(parts[:end])


def under(key: str, prefix: str) -> bool:
    """Whether ``key`` is ``prefix`` itself or below it ("" is above everything)."""
    return not prefix or key == prefix or key.startswith(prefix + "/")


def _clash(key: str, keys: Collection[str], groups: Container[str]) -> str | None:
    """The existing key ``key`` clashes with, or None.

    ``keys`` are the existing keys and ``groups`` their proper prefixes. When ``key`` is a group,
    the clash is the first key below it in sorted order; else the first prefix of ``key`` that is
    a key.
    """
    if key in groups:
        return next(k for k in sorted(keys) if k.startswith(key + "/"))
    for prefix in prefixes(key):
        if prefix in keys:
            return prefix
    return None


def conflict_error(key: str, other: str) -> SeriesKeyError:
    if other.startswith(key + "/"):
        suggestion = key + "/value"
    else:
        suggestion = other + "_" + key[len(other) + 1 :].replace("/", "_")
    return SeriesKeyError(
        f"series key {key!r} clashes with the existing key {other!r}: a key cannot also be the "
        f"prefix of another key (HDF5 cannot hold both); use another key, e.g. {suggestion!r}",
        key=key,
        other=other,
    )


def missing_error(key: str) -> SeriesKeyError:
    return SeriesKeyError(
        f"no series {key!r} in this store: expected a key that was recorded; list the recorded "
        "ones with keys()",
        key=key,
    )


@dataclass(frozen=True)
class SeriesSchema:
    """A series' layout: the dtype and shape of each value, ``text`` for str values, or
    ``pickled`` for any other Python value (kept as pickle bytes, see the module docstring)."""

    dtype: np.dtype[Any]
    shape: tuple[int, ...]
    text: bool = False
    pickled: bool = False

    @classmethod
    def of(cls, key: str, value: Any, allow_pickle: bool = False) -> tuple[SeriesSchema, Any]:
        """The schema a first value sets, and the value as the store keeps it."""
        if isinstance(value, str):
            return cls(np.dtype(object), (), text=True), value
        if isinstance(value, bool):
            array = np.asarray(value, dtype=bool)
        elif isinstance(value, int):
            array = _python_int(key, value)
        elif isinstance(value, float):
            array = np.asarray(value, dtype=np.float64)
        else:
            try:
                array = np.array(value)
            except (TypeError, ValueError) as error:
                if allow_pickle:
                    return PICKLED, pickled(key, value)
                raise _unsupported(key, value) from error
        if array.dtype.kind not in _NUMERIC_KINDS:
            if allow_pickle:
                return PICKLED, pickled(key, value)
            raise _unsupported(key, value)
        return cls(array.dtype, array.shape), array

    def coerce(self, key: str, value: Any) -> Any:
        """``value`` converted to this schema, or RecordValueError saying why it cannot be."""
        if self.text or self.pickled:
            if self.pickled:
                return pickled(key, value)
            if isinstance(value, str):
                return value
            raise self._mismatch(key, value)
        if isinstance(value, bool | int | float) and self.shape == ():
            if isinstance(value, bool):
                fits = self.dtype.kind in "biufc"
            elif isinstance(value, int):
                fits = self.dtype.kind in "fc" or (
                    self.dtype.kind in "iu"
                    and np.iinfo(self.dtype).min <= value <= np.iinfo(self.dtype).max
                )
            else:
                fits = self.dtype.kind in "fc"
            if not fits:
                raise self._mismatch(key, value)
            return np.asarray(value, dtype=self.dtype)
        if isinstance(value, str):
            raise self._mismatch(key, value)
        try:
            array = np.asarray(value)
        except (TypeError, ValueError) as error:
            raise self._mismatch(key, value) from error
        if array.shape != self.shape or not np.can_cast(array.dtype, self.dtype, "safe"):
            raise self._mismatch(key, value)
        return array.astype(self.dtype, copy=True)

    def _mismatch(self, key: str, value: Any) -> RecordValueError:
        got = "str" if isinstance(value, str) else _describe(value)
        return RecordValueError(
            f"series {key!r} holds {self.describe()}, so it cannot take {got}: values of one key "
            "must share shape and convert without loss; convert the value or use another key",
            key=key,
        )

    def describe(self) -> str:
        if self.pickled:
            return "pickled Python values"
        return "str values" if self.text else f"values of shape {self.shape} {self.dtype}"

    def to_text(self) -> str:
        if self.pickled:
            return repr(("pickle", ()))
        descr = "text" if self.text else np.lib.format.dtype_to_descr(self.dtype)
        return repr((descr, self.shape))

    @classmethod
    def from_text(cls, text: str) -> SeriesSchema:
        descr, shape = ast.literal_eval(text)
        if descr == "text":
            return cls(np.dtype(object), (), text=True)
        if descr == "pickle":
            return PICKLED
        return cls(np.lib.format.descr_to_dtype(descr), tuple(shape))

    def stack(self, values: list[Any]) -> npt.NDArray[Any]:
        """Stored values as one array (``str`` dtype for text)."""
        if self.text:
            return np.array(values, dtype=str) if values else np.empty(0, dtype=str)
        if not values:
            return np.empty((0, *self.shape), self.dtype)
        return np.stack(values).astype(self.dtype, copy=False)


PICKLED = SeriesSchema(np.dtype(object), (), pickled=True)
"""The schema of a series of pickled values."""


def pickled(key: str, value: Any) -> bytes:
    """``value`` as pickle bytes, or RecordValueError when it cannot be pickled."""
    try:
        return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    except (pickle.PicklingError, TypeError, AttributeError) as error:
        raise RecordValueError(
            f"series {key!r} cannot store {_describe(value)}: it cannot be pickled ({error}); "
            "record a picklable value (module-level classes and functions, no open files)",
            key=key,
        ) from None


def unpickled(data: Any) -> Any:
    """A value from the pickle bytes (or uint8 array) a pickled series keeps. Only called for a
    store opened with ``allow_pickle=True`` (``Store._check_pickle`` runs first)."""
    return pickle.loads(data if isinstance(data, bytes) else bytes(data))


def _python_int(key: str, value: int) -> npt.NDArray[Any]:
    if -(2**63) <= value < 2**63:
        return np.asarray(value, dtype=np.int64)
    if 0 <= value < 2**64:
        return np.asarray(value, dtype=np.uint64)
    raise RecordValueError(
        f"series {key!r}: the int {value} does not fit 64 bits; store it as a float or a str",
        key=key,
    )


def _describe(value: Any) -> str:
    if isinstance(value, np.ndarray | np.generic):
        return f"a value of shape {value.shape} {value.dtype}"
    return f"{type(value).__name__} {value!r}"[:80]


def _unsupported(key: str, value: Any) -> RecordValueError:
    return RecordValueError(
        f"series {key!r} cannot store {_describe(value)}: expected a bool, int, float, str or "
        "a numeric numpy array (or list of numbers); convert the value first, or open the "
        "store with allow_pickle=True to keep any picklable value",
        key=key,
    )


class Store(abc.ABC):
    """Where a keyed recorder keeps its series. Every store passes tests/recorder/store_suite.py.

    Subclasses implement ``_append_many``, ``_read``, ``_load_schema``, ``_create`` and
    ``keys``; this class enforces keys, schemas, the pickle opt-in and the closed state the same
    way for all. ``allow_pickle=True`` lets the store keep and read back any picklable value.
    """

    def __init__(self, *, allow_pickle: bool = False) -> None:
        self._schemas: dict[str, SeriesSchema] = {}
        self._closed = False
        self.allow_pickle = allow_pickle

    @abc.abstractmethod
    def keys(self, prefix: str = "") -> list[str]:
        """Every series key equal to or below ``prefix``, sorted."""

    @abc.abstractmethod
    def _load_schema(self, key: str) -> SeriesSchema | None:
        """The stored schema of ``key``, or None if the store has no such series."""

    @abc.abstractmethod
    def _create(self, key: str, schema: SeriesSchema) -> SeriesSchema:
        """Register a new series (after the conflict check); return the schema that won."""

    @abc.abstractmethod
    def _append_many(self, key: str, schema: SeriesSchema, values: Rows) -> None:
        """Store already coerced values (a list, or an array of rows) at the end of the series."""

    @abc.abstractmethod
    def _read(self, key: str, schema: SeriesSchema) -> Any:
        """The whole series as the store hands it out."""

    def _check_conflicts(self, key: str) -> None:
        """Raise when ``key`` is a prefix of a key or has a key as prefix (override to speed up)."""
        existing = self.keys()
        for prefix in prefixes(key):
            if prefix in existing:
                raise conflict_error(key, prefix)
        for other in existing:
            if other.startswith(key + "/"):
                raise conflict_error(key, other)

    def _ensure_open(self) -> None:
        if self._closed:
            raise StoreClosedError(
                f"{type(self).__name__} is closed: expected an open store; make a new one to "
                "record or read again"
            )

    def _stored_schema(self, key: str) -> SeriesSchema | None:
        """The schema of ``key`` (cached, else loaded), or None if the store has no such series.

        A loaded schema is not cached here: another client may delete or remake the series.
        """
        return self._schemas.get(key) or self._load_schema(key)

    def _schema_for(self, key: str, first: Any) -> tuple[SeriesSchema, Any]:
        schema = self._stored_schema(key)
        if schema is None:
            self._check_conflicts(key)
            proposed, value = SeriesSchema.of(key, first, self.allow_pickle)
            schema = self._create(key, proposed)
            if schema == proposed:
                self._schemas[key] = schema
                return schema, value
        self._schemas[key] = schema
        if schema.pickled:
            self._check_pickle(key, schema)
        return schema, schema.coerce(key, first)

    def _check_pickle(self, key: str, schema: SeriesSchema) -> None:
        """Refuse a pickled series unless this store was opened with ``allow_pickle=True``."""
        if schema.pickled and not self.allow_pickle:
            raise UntrustedPickleError(
                f"series {key!r} holds pickled Python values, and unpickling runs code chosen by "
                "whoever wrote them: expected allow_pickle=True; pass it to the store only for "
                "data you wrote yourself",
                key=key,
            )

    def validate(self, key: str, value: Any) -> None:
        """Raise exactly what ``append(key, value)`` would raise, without storing anything."""
        self._ensure_open()
        key = normalize_key(key)
        schema = self._stored_schema(key)
        if schema is None:
            self._check_conflicts(key)
            SeriesSchema.of(key, value, self.allow_pickle)
        else:
            self._check_pickle(key, schema)
            schema.coerce(key, value)

    def append(self, key: str, value: Any) -> None:
        """Add ``value`` at the end of the series ``key`` (created by its first value)."""
        self._ensure_open()
        key = normalize_key(key)
        schema, coerced = self._schema_for(key, value)
        self._append_many(key, schema, [coerced])

    def extend(self, key: str, values: Iterable[Any]) -> None:
        """Add several values at the end of the series ``key``, in order."""
        self._ensure_open()
        key = normalize_key(key)
        if isinstance(values, np.ndarray) and values.ndim >= 1 and values.dtype.kind in "biufc":
            if not len(values):
                return
            schema, _ = self._schema_for(key, values[0])
            if (
                not schema.text
                and not schema.pickled
                and values.shape[1:] == schema.shape
                and np.can_cast(values.dtype, schema.dtype, "safe")
            ):
                self._append_many(key, schema, values.astype(schema.dtype, copy=True))
                return
        items = list(values)
        if not items:
            return
        schema, first = self._schema_for(key, items[0])
        coerced = [first, *(schema.coerce(key, value) for value in items[1:])]
        self._append_many(key, schema, coerced)

    def get(self, key: str) -> Any:
        """The series ``key``: an array-like of every value recorded there, in order."""
        self._ensure_open()
        key = normalize_key(key)
        schema = self._stored_schema(key)
        if schema is None:
            raise missing_error(key)
        self._check_pickle(key, schema)
        return self._read(key, schema)

    def get_all(self, prefix: str = "") -> dict[str, Any]:
        """Every series equal to or below ``prefix`` ("a" gives "a/b", "a/c", ...), by key."""
        self._ensure_open()
        prefix = "" if prefix in ("", "/") else normalize_key(prefix)
        return {key: self.get(key) for key in self.keys(prefix)}

    def __contains__(self, key: object) -> bool:
        try:
            normalized = normalize_key(key)
        except SeriesKeyError:
            return False
        return self._stored_schema(normalized) is not None

    def flush(self) -> None:  # noqa: B027 - stores without buffers have nothing to flush
        """Make everything appended so far durable or visible to other readers."""

    def close(self) -> None:
        """Flush and release the store; later use raises StoreClosedError. Idempotent."""
        if not self._closed:
            self.flush()
        self._closed = True

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


class MemoryStore(Store):
    """Series kept in this process: numeric values in numpy buffers that double as they fill,
    text and pickled values in lists."""

    def __init__(self, *, allow_pickle: bool = False) -> None:
        super().__init__(allow_pickle=allow_pickle)
        self._buffers: dict[str, npt.NDArray[Any]] = {}
        self._lists: dict[str, list[Any]] = {}
        self._sizes: dict[str, int] = {}
        self._groups: set[str] = set()

    def keys(self, prefix: str = "") -> list[str]:
        self._ensure_open()
        return sorted(key for key in self._sizes if under(key, prefix))

    def _check_conflicts(self, key: str) -> None:
        other = _clash(key, self._sizes, self._groups)
        if other is not None:
            raise conflict_error(key, other)

    def _load_schema(self, key: str) -> SeriesSchema | None:
        return self._schemas.get(key)

    def _create(self, key: str, schema: SeriesSchema) -> SeriesSchema:
        self._sizes[key] = 0
        self._groups.update(prefixes(key))
        if schema.text or schema.pickled:
            self._lists[key] = []
        else:
            self._buffers[key] = np.empty((16, *schema.shape), schema.dtype)
        return schema

    def _append_many(self, key: str, schema: SeriesSchema, values: Rows) -> None:
        size = self._sizes[key]
        if schema.text or schema.pickled:
            self._lists[key].extend(values)
        else:
            buffer = self._buffers[key]
            needed = size + len(values)
            if needed > len(buffer):
                grown = np.empty((max(needed, 2 * len(buffer)), *schema.shape), schema.dtype)
                grown[:size] = buffer[:size]
                self._buffers[key] = buffer = grown
            buffer[size:needed] = values if len(values) > 1 else values[0]
        self._sizes[key] = size + len(values)

    def _read(self, key: str, schema: SeriesSchema) -> Any:
        if schema.pickled:
            return [unpickled(data) for data in self._lists[key]]
        if schema.text:
            return schema.stack(self._lists[key])
        return self._buffers[key][: self._sizes[key]].copy()
