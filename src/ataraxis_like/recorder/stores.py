"""Keyed series stores: the common interface, the rules every store enforces, the memory store.

A *series* is what ``append(key, value)`` builds: values recorded one after another under a key
such as ``"train/loss"``. Its first value fixes its *schema* (_series.py: what a first value
fixes and how later values convert). Keys are names joined by ``/``; a key cannot also be a
prefix of another key (``a`` and ``a/b``), because HDF5 cannot hold both.

``get(key)`` returns an array-like (``len``, ``[i]``, ``[a:b]``, ``numpy.asarray``): a numpy
array from memory and Redis, a lazy view from HDF5. Text series read as numpy ``str`` arrays.

Pickled series (any other picklable value) are kept and read back only by a store opened with
``allow_pickle=True`` (see _series.py).
"""

from __future__ import annotations

import abc
from collections.abc import Collection, Container, Iterable, Iterator, Sequence
from types import TracebackType
from typing import Any, Self

import numpy as np
import numpy.typing as npt

from ..hdf5._keys import key_problem
from ._errors import RecordValueError, SeriesKeyError, StoreClosedError, UntrustedPickleError
from ._series import PICKLED as PICKLED  # the schema names, where they were before _series.py
from ._series import SeriesSchema as SeriesSchema
from ._series import pickled as pickled
from ._series import unpickled as unpickled

Rows = Sequence[Any] | npt.NDArray[Any]
"""Coerced values for ``_append_many``: a list, or an array whose first axis counts values."""


def normalize_key(key: object) -> str:
    """``key`` as a clean series path ("a/b/c"), or SeriesKeyError saying what is wrong: the
    rule the sink follows too (``hdf5._keys.key_problem``), so every store takes the same keys."""
    problem = key_problem(key)
    if problem is not None:
        raise SeriesKeyError(f"series key {problem}", key=repr(key))
    assert isinstance(key, str)
    return key.strip("/")


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
        try:
            items = list(values)
        except TypeError:
            raise RecordValueError(
                f"series {key!r}: extend takes an iterable of values (got "
                f"{type(values).__name__} {values!r:.40}); use append for one value",
                key=key,
            ) from None
        if not items:
            return
        if self._stored_schema(key) is None:  # check every value before the new series exists
            proposed, _ = SeriesSchema.of(key, items[0], self.allow_pickle)
            for value in items[1:]:
                proposed.coerce(key, value)
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
