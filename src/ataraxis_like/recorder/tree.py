"""``Recorder``: the node of the record hierarchy that users hold.

The hierarchy itself (fields, children, records) is ``Node`` in node.py; a ``Recorder`` adds
what is built on it: selections of its records (query.py) and saving, loading and streaming
its subtree (persist.py), so that none of those modules needs to know this class.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .node import Node, Record
from .persist import RecordStream, load_tree, save, stream_to
from .query import Records

if TYPE_CHECKING:
    import numpy as np


class Recorder(Node):
    """A node of the record hierarchy: fields shared by everything below, and its own records.

    ``Recorder(experiment=1)`` makes a root; ``node.child(model="m1")`` a child. ``push(**values)``
    adds a record; ``add(...)`` collects values over several calls and ``commit()`` makes them
    one record. ``records`` is every record of the subtree, this node's first, then each child's
    subtree in creation order. Not thread-safe: give each thread its own node.
    """

    if TYPE_CHECKING:  # a Recorder's relatives are Recorders: only Recorders build the tree

        @property
        def parent(self) -> Recorder | None: ...

        @property
        def children(self) -> tuple[Recorder, ...]: ...

        @property
        def root(self) -> Recorder: ...

        def walk(self) -> Iterator[Recorder]: ...

    def child(self, _fields: Mapping[str, Any] | None = None, /, **fields: Any) -> Recorder:
        """A new child node holding ``fields``."""
        return Recorder(_fields, **fields).set_parent(self)

    @property
    def records(self) -> Records:
        """Every record of this subtree, as a read-only sequence of mappings."""
        return Records.of_subtree(self, self.record_type)

    @property
    def own_records(self) -> Records:
        """This node's records only."""
        return Records.of_nodes([self], self.record_type)

    def where(self, _predicate: Callable[[Record], Any] | None = None, /, **fields: Any) -> Records:
        """``records.where(...)``: see ``Records.where``."""
        return self.records.where(_predicate, **fields)

    def to_columns(self) -> dict[str, np.ma.MaskedArray[Any, Any]]:
        """``records.to_columns()``: one masked array per key, fields broadcast."""
        return self.records.to_columns()

    def to_pandas(self) -> Any:
        """``records.to_pandas()``: a pandas DataFrame (needs pandas)."""
        return self.records.to_pandas()

    def save(
        self,
        path: str | Path,
        *,
        key: str = "recorder",
        compression: Any = None,
        overwrite: bool = False,
    ) -> None:
        """Write this subtree to HDF5 at ``path`` under ``key`` through the HDF5 sink.

        Nodes become groups, fields attributes (and JSON in ``_meta``), columns datasets; see
        persist.py. ``overwrite=True`` replaces the file; otherwise ``key`` must be new in it.
        """
        save(self, path, key=key, compression=compression, overwrite=overwrite)

    @classmethod
    def load(cls, path: str | Path, *, key: str = "recorder") -> Recorder:
        """The subtree saved at ``path`` under ``key``, exactly as it was saved."""
        return load(path, key=key)

    def stream_to(self, client: Any, key: str) -> RecordStream:
        """Send this subtree's records, as they are committed, to a sink client (see persist)."""
        return stream_to(self, client, key)

    def __repr__(self) -> str:
        return (
            f"Recorder(fields={self.fields!r}, records={len(self)}, children={len(self._children)})"
        )


def load(path: str | Path, *, key: str = "recorder") -> Recorder:
    """The subtree saved (or streamed) into ``path`` under ``key``."""
    return load_tree(path, key=key, node_type=Recorder)
