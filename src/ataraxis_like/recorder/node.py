"""The record hierarchy: nodes, and the records they hold.

A node holds *fields* (``experiment=1``, ``model="m1"``) that every record below it inherits, and
its own records as columns (see columns.py). A record is a read-only mapping of (node, row): a
key resolves to the record's own value, else the node's field, else the nearest ancestor's. No
field is ever copied into a record, so a field set on a parent later shows in existing records.

``Node`` is the hierarchy alone; selections (query.py) and persistence (persist.py) are built on
it, and ``Recorder`` (tree.py) is the node users hold, with those as methods.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any, ClassVar, Self

from ._errors import RecorderError, RecordValueError
from .columns import CHUNK_ROWS, MISSING, ColumnTable


class Record(Mapping[str, Any]):
    """One record: its own values, then its node's fields, then each ancestor's (nearest wins)."""

    __slots__ = ("_index", "_node")

    def __init__(self, node: Node, index: int) -> None:
        self._node = node
        self._index = index

    def _lookup(self, key: str) -> Any:
        node: Node | None = self._node
        assert node is not None
        table = node._table
        if self._index >= table.flushed:
            node.flush()
        column = table.columns.get(key)
        if column is not None:
            value = column.value(self._index)
            if value is not MISSING:
                return value
        while node is not None:
            fields = node.fields
            if key in fields:
                return fields[key]
            node = node._parent
        return MISSING

    def __getitem__(self, key: str) -> Any:
        value = self._lookup(key)
        if value is MISSING:
            raise KeyError(key)
        return value

    def get(self, key: str, default: Any = None) -> Any:
        value = self._lookup(key)
        return default if value is MISSING else value

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self._lookup(key) is not MISSING

    def __iter__(self) -> Iterator[str]:
        node: Node | None = self._node
        assert node is not None
        table = node._table
        if self._index >= table.flushed:
            node.flush()
        seen: set[str] = set()
        for key, column in table.columns.items():
            if column.value(self._index) is not MISSING:
                seen.add(key)
                yield key
        while node is not None:
            for key in node.fields:
                if key not in seen:
                    seen.add(key)
                    yield key
            node = node._parent

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __repr__(self) -> str:
        return repr(dict(self.items()))

    @property
    def node(self) -> Node:
        """The recorder node that holds this record."""
        return self._node

    @property
    def index(self) -> int:
        """The record's row in its node."""
        return self._index


class Node:
    """A node of the record hierarchy: fields shared by everything below, and its own records.

    ``push(**values)`` adds a record; ``add(...)`` collects values over several calls and
    ``commit()`` makes them one record; ``set_parent`` moves the node and its subtree. Not
    thread-safe: give each thread its own node.
    """

    record_type: ClassVar[type[Record]] = Record

    def __init__(self, _fields: Mapping[str, Any] | None = None, /, **fields: Any) -> None:
        if _fields is not None:
            check_field_names(_fields)
        self.fields: dict[str, Any] = {**(_fields or {}), **fields}
        self._parent: Node | None = None
        self._children: list[Node] = []
        self._table = ColumnTable()
        self._staged: dict[str, Any] = {}
        self._listeners: list[Callable[[Node, int, int], None]] = []

    @property
    def parent(self) -> Node | None:
        return self._parent

    @property
    def children(self) -> tuple[Node, ...]:
        return tuple(self._children)

    @property
    def root(self) -> Node:
        node = self
        while node._parent is not None:
            node = node._parent
        return node

    def set_parent(self, parent: Node | None) -> Self:
        """Move this node (with its subtree and records) under ``parent``; None detaches it."""
        if parent is not None:
            node: Node | None = parent
            while node is not None:
                if node is self:
                    raise RecorderError(
                        "set_parent would make a cycle: the new parent is this node or below it; "
                        "pick a parent outside this node's subtree"
                    )
                node = node._parent
        if self._parent is not None:
            self._parent._children.remove(self)
        self._parent = parent
        if parent is not None:
            parent._children.append(self)
            for listener in parent._listeners:
                for node in self.walk():
                    if listener not in node._listeners:
                        node._listeners.append(listener)
        return self

    def set(self, **fields: Any) -> Self:
        """Add or change fields; existing records see them at once."""
        self.fields.update(fields)
        return self

    def push(self, _values: Mapping[str, Any] | None = None, /, **values: Any) -> None:
        """Add one record of ``values`` (a mapping, keywords, or both)."""
        if _values is not None:
            values = {**_values, **values}
        table = self._table
        pending = table.pending
        if values.keys() == pending.keys():
            for key, value in values.items():
                pending[key].append(value)
            table.length += 1
        else:
            table.append_row(values)
        if table.length - table.flushed >= CHUNK_ROWS:
            self.flush()

    def add(self, _values: Mapping[str, Any] | None = None, /, **values: Any) -> Self:
        """Stage values for the next ``commit()`` (later values replace earlier ones)."""
        if _values is not None:
            self._staged.update(_values)
        self._staged.update(values)
        return self

    def commit(self) -> None:
        """Turn the staged values into one record (an empty record when nothing was staged)."""
        staged, self._staged = self._staged, {}
        self.push(staged)

    def flush(self) -> None:
        """Turn this node's pending values into numpy (and hand them to a stream, if any)."""
        table = self._table
        start = table.flushed
        if table.length == start:
            return
        table.flush()
        for listener in self._listeners:
            listener(self, start, table.flushed)

    def walk(self) -> Iterator[Node]:
        """This node and every node below it, depth first, children in creation order."""
        stack: list[Node] = [self]
        while stack:
            node = stack.pop()
            yield node
            stack.extend(reversed(node._children))

    def resolve(self, key: str, default: Any = MISSING) -> Any:
        """The field ``key`` as this node's records inherit it (own fields first, then upward)."""
        node: Node | None = self
        while node is not None:
            if key in node.fields:
                return node.fields[key]
            node = node._parent
        return default

    def lineage_fields(self) -> dict[str, Any]:
        """Every field this node's records inherit, merged (nearer nodes win)."""
        merged: dict[str, Any] = {}
        node: Node | None = self
        while node is not None:
            for key, value in node.fields.items():
                merged.setdefault(key, value)
            node = node._parent
        return merged

    def __len__(self) -> int:
        """This node's own records (not its children's)."""
        return self._table.length

    @property
    def nbytes(self) -> int:
        """Bytes held by this subtree's flushed columns."""
        return sum(node._table.nbytes for node in self.walk())


def check_field_names(fields: Mapping[Any, Any]) -> None:
    """Raise RecordValueError unless every field name is a str."""
    for key in fields:
        if not isinstance(key, str):
            raise RecordValueError(
                f"field names must be str (got {type(key).__name__} {key!r}); use text names",
                key=repr(key),
            )
