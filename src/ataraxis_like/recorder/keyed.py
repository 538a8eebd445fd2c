"""The keyed-series recorder: ``record("a/b", value)`` into one or several stores at once."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from types import TracebackType
from typing import Any, Self

import numpy as np

from ._errors import RecorderError
from .stores import Store


def record_into(stores: Sequence[Store], key: str, value: Any) -> None:
    """Append ``value`` to the series ``key`` in every store, or in none: each store checks it
    before any appends (a single store checks it as it appends)."""
    if len(stores) == 1:
        stores[0].append(key, value)
        return
    for store in stores:
        store.validate(key, value)
    for store in stores:
        store.append(key, value)


class SeriesRecorder:
    """Records each value into every store given; reads come from the first.

    ``SeriesRecorder(MemoryStore(), Hdf5Store("run.h5"))`` keeps a fast in-memory copy for the
    running program and a file for later. A value rejected by one store (a schema mismatch) is
    rejected before any store took it, so the stores never disagree.
    """

    def __init__(self, *stores: Store) -> None:
        if not stores:
            raise RecorderError(
                "SeriesRecorder needs at least one store (got none); pass e.g. MemoryStore()"
            )
        for store in stores:
            if not isinstance(store, Store):
                raise RecorderError(
                    f"SeriesRecorder takes stores (got {type(store).__name__}); pass "
                    "MemoryStore(), Hdf5Store(path) or RedisStore(host, port)"
                )
        self.stores: tuple[Store, ...] = stores

    def record(self, key: str, value: Any) -> None:
        """Append ``value`` to the series ``key`` in every store."""
        record_into(self.stores, key, value)

    def record_many(self, key: str, values: Iterable[Any]) -> None:
        """Append several values to the series ``key`` in every store."""
        items = values if isinstance(values, np.ndarray) else list(values)
        if len(self.stores) > 1 and len(items):
            for store in self.stores:
                store.validate(key, items[0])
        for store in self.stores:
            store.extend(key, items)

    def get(self, key: str) -> Any:
        """The series ``key`` from the first store."""
        return self.stores[0].get(key)

    def get_all(self, prefix: str = "") -> dict[str, Any]:
        """Every series at or below ``prefix`` from the first store, by key."""
        return self.stores[0].get_all(prefix)

    def keys(self, prefix: str = "") -> list[str]:
        """The series keys at or below ``prefix`` in the first store."""
        return self.stores[0].keys(prefix)

    def flush(self) -> None:
        """Flush every store."""
        for store in self.stores:
            store.flush()

    def close(self) -> None:
        """Flush and close every store (each is closed even if another fails)."""
        failure: BaseException | None = None
        for store in self.stores:
            try:
                store.close()
            except BaseException as error:
                failure = failure or error
        if failure is not None:
            raise failure

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
