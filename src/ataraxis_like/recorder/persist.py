"""Saving recorder trees to HDF5 through the sink, loading them back, streaming from workers.

Layout of a node saved at key ``K`` (the root at ``key``, child ``j`` at ``K/n<j>``):

- ``K/_meta``: one JSON text: format, length (records), children (count), fields (ordered
  ``[name, value]`` pairs), columns (name and segments). It is what ``load`` trusts.
- ``K`` attributes: the fields again, for HDF5 tools (values HDF5 cannot hold as attributes
  are left to ``_meta``).
- ``K/c<i>/s<j>/values``: one segment of column ``i``, covering rows ``start ..``: numbers and
  bools as themselves, text as UTF-8 strings, ``object`` columns as JSON text per value.
  ``K/c<i>/s<j>/mask`` (bool, True = missing) is there when the segment has missing values. Rows
  outside every segment are missing. A saved column has one segment; a streamed column starts a
  new one whenever its dtype widens. Streamed text segments (kinds ``str8``/``json8``) hold the
  UTF-8 bytes of every value in a uint8 ``values`` dataset plus an int64 ``ends`` dataset of end
  offsets: the sink's queue cannot take several batches of variable-length strings for one key
  in a single write yet, and bytes have no such limit.

Values go through tagged JSON (``encode_value``), never pickle: None, bool, int, float, str,
lists and dicts are JSON; tuples, dicts with non-str keys, numpy scalars and numpy arrays carry a
``"$"`` tag so they come back as the same type.
"""

from __future__ import annotations

import base64
import itertools
import json
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol, Self, TypeVar

import numpy as np
import numpy.typing as npt

from ..hdf5 import Hdf5Sink, SinkReader, open_sink
from ._errors import RecorderError, RecorderFormatError, RecordValueError
from .columns import Column, object_array, promote
from .node import Node
from .stores import normalize_key

FORMAT = 1

NodeT = TypeVar("NodeT", bound=Node)


class _Writer(Protocol):
    def write(self, key: str, array: Any) -> None: ...

    def extend(self, key: str, values: Any) -> None: ...


# ------------------------------------------------------------------ tagged JSON
def _tag(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list):
        return [_tag(item) for item in value]
    if isinstance(value, dict) and all(isinstance(key, str) for key in value):
        return {"$": "dict", "v": {key: _tag(item) for key, item in value.items()}}
    if isinstance(value, dict):
        return {"$": "pairs", "v": [[_tag(key), _tag(item)] for key, item in value.items()]}
    if isinstance(value, tuple):
        return {"$": "tuple", "v": [_tag(item) for item in value]}
    if isinstance(value, np.generic) and value.dtype.kind in "biufcU":
        return {"$": "scalar", "dtype": value.dtype.str, "v": _tag(value.item())}
    if isinstance(value, complex):
        return {"$": "complex", "v": [value.real, value.imag]}
    if isinstance(value, np.ndarray) and value.dtype.kind in "biufcU":
        data = base64.b64encode(np.ascontiguousarray(value).tobytes()).decode("ascii")
        return {"$": "ndarray", "dtype": value.dtype.str, "shape": list(value.shape), "v": data}
    raise RecordValueError(
        f"cannot save a value of type {type(value).__name__} ({value!r:.60}): expected None, "
        "bool, int, float, complex, str, list, tuple, dict or a numpy number/array; convert it",
        type=type(value).__name__,
    )


def _untag(value: Any) -> Any:
    if isinstance(value, list):
        return [_untag(item) for item in value]
    if not isinstance(value, dict):
        return value
    tag: Any = value.get("$")
    inner: Any = value.get("v")
    if tag == "dict":
        return {key: _untag(item) for key, item in inner.items()}
    if tag == "pairs":
        return {_untag(key): _untag(item) for key, item in inner}
    if tag == "tuple":
        return tuple(_untag(item) for item in inner)
    if tag == "complex":
        return complex(inner[0], inner[1])
    if tag == "scalar":
        make: Any = np.dtype(value["dtype"]).type
        return make(_untag(inner))
    if tag == "ndarray":
        raw = base64.b64decode(inner)
        return np.frombuffer(raw, dtype=np.dtype(value["dtype"])).reshape(value["shape"]).copy()
    raise RecorderFormatError(f"unknown tagged value {value!r:.80} in a saved recorder")


def encode_value(value: Any) -> str:
    """``value`` as tagged JSON text (see the module docstring)."""
    return json.dumps(_tag(value), separators=(",", ":"))


def decode_value(text: str) -> Any:
    return _untag(json.loads(text))


# ------------------------------------------------------------------ columns
def _segment_arrays(data: npt.NDArray[Any]) -> tuple[Any, str]:
    """A column chunk as the sink stores it, and the kind ``load`` needs to read it back."""
    if data.dtype.kind == "U":
        return data, "str"
    if data.dtype.kind == "O":
        return object_array([encode_value(value) for value in data.tolist()]), "json"
    return data, "num"


def _split_utf8(blob: npt.NDArray[Any], ends: npt.NDArray[Any]) -> list[str]:
    raw = np.asarray(blob, dtype=np.uint8).tobytes()
    bounds = [0, *np.asarray(ends, dtype=np.int64).tolist()]
    return [raw[start:stop].decode("utf-8") for start, stop in itertools.pairwise(bounds)]


def _decode_segment(values: npt.NDArray[Any], kind: str) -> npt.NDArray[Any]:
    if kind == "str":
        return np.array(values.tolist(), dtype=str) if len(values) else np.empty(0, dtype=str)
    if kind == "json":
        return object_array([decode_value(text) for text in values.tolist()])
    return values


def _attribute_ok(value: Any) -> bool:
    if isinstance(value, bool | float | str):
        return True
    if isinstance(value, int):
        return -(2**63) <= value < 2**63
    return isinstance(value, np.generic) and value.dtype.kind in "biuf"


def _meta(node: Node, columns: list[dict[str, Any]], children: int) -> str:
    fields = [[name, _tag(value)] for name, value in node.fields.items()]
    return json.dumps(
        {
            "format": FORMAT,
            "length": node._table.flushed,
            "children": children,
            "fields": fields,
            "columns": columns,
        },
        separators=(",", ":"),
    )


def _write_fields(sink: Hdf5Sink, key: str, node: Node) -> None:
    attributes = {
        name: value
        for name, value in node.fields.items()
        if _attribute_ok(value) and not name.startswith("_")
    }
    if attributes:
        sink.set_attrs(key, **attributes)


# ------------------------------------------------------------------ save / load
def save(
    node: Node,
    path: str | Path,
    *,
    key: str = "recorder",
    compression: Any = None,
    overwrite: bool = False,
) -> None:
    """Write ``node``'s subtree into ``path`` under ``key``.

    The file may exist and hold other keys; ``overwrite=True`` starts a new file instead.
    """
    key = normalize_key(key)
    path = Path(path)
    with Hdf5Sink(path, "w" if overwrite else "a", compression) as sink:
        existing = sink.keys()
        if any(name == key or name.startswith(key + "/") for name in existing):
            what = "a recorder" if f"{key}/_meta" in existing else "an incomplete save"
            raise RecorderError(
                f"{path.name} already holds {what} at {key!r}: expected a new key; pass "
                "another key=..., overwrite=True, or save to a new file",
                path=str(path),
                key=key,
            )
        save_into(sink, node, key)


def save_into(sink: Hdf5Sink, node: Node, key: str) -> None:
    """Write ``node``'s subtree through an open sink under ``key`` (which must be new).

    Children are written before their parent and each node's ``_meta`` after its columns, so
    ``key/_meta`` appears last: a save killed midway leaves no loadable (partial) tree.
    """
    order: list[tuple[Node, str]] = []
    stack: list[tuple[Node, str]] = [(node, normalize_key(key))]
    while stack:
        current, name = stack.pop()
        order.append((current, name))
        stack.extend((child, f"{name}/n{index}") for index, child in enumerate(current._children))
    for current, name in reversed(order):
        current.flush()
        columns: list[dict[str, Any]] = []
        for index, (column_name, column) in enumerate(current._table.columns.items()):
            segments: list[dict[str, Any]] = []
            if column.typed and column.size:
                data, mask = column.view()
                values, kind = _segment_arrays(data)
                sink.write(f"{name}/c{index}/s0/values", values)
                if mask is not None:
                    sink.write(f"{name}/c{index}/s0/mask", mask)
                segments.append({"start": 0, "kind": kind})
            columns.append({"name": column_name, "segments": segments})
        meta = _meta(current, columns, len(current._children))
        if segments_or_children := any(c["segments"] for c in columns) or current._children:
            _write_fields(sink, name, current)  # the group exists: fields before the commit
        sink.write(f"{name}/_meta", meta)
        if not segments_or_children:
            _write_fields(sink, name, current)


def load_tree(path: str | Path, *, key: str, node_type: type[NodeT]) -> NodeT:
    """The subtree saved (or streamed) into ``path`` under ``key``, as nodes of ``node_type``."""
    path = Path(path)
    with open_sink(path) as reader:
        return load_from(reader, key, node_type)


def load_from(reader: SinkReader, key: str, node_type: type[NodeT]) -> NodeT:
    """The subtree under ``key`` of a file open for reading, as nodes of ``node_type``."""
    key = normalize_key(key)
    exists = _has(reader, key)
    finished = _has(reader, f"{key}/_meta")
    if exists and not finished:
        raise RecorderFormatError(
            f"{reader.path.name} holds an incomplete recorder at {key!r} (no {key}/_meta: a "
            "save killed midway, or a stream that never flushed): expected a finished save; "
            "save again under another key, or flush the stream",
            path=str(reader.path),
            key=key,
        )
    if not finished:
        raise RecorderFormatError(
            f"{reader.path.name} holds no saved recorder at {key!r} (no {key}/_meta): expected "
            "a file written by Recorder.save or a closed stream; check the path and key",
            path=str(reader.path),
            key=key,
        )
    return _load_node(reader, key, node_type)


def _has(reader: Any, key: str) -> bool:
    return reader.file.get(key) is not None


def _load_node(reader: Any, key: str, node_type: type[NodeT]) -> NodeT:
    meta = json.loads(str(reader.load(f"{key}/_meta").item()))
    if meta.get("format", 0) > FORMAT:
        raise RecorderFormatError(
            f"the recorder at {key!r} has format {meta['format']}, newer than this library "
            f"reads ({FORMAT}); upgrade ataraxis-like",
            key=key,
        )
    node = node_type({name: _untag(value) for name, value in meta["fields"]})
    length = int(meta["length"])
    columns: dict[str, Column] = {}
    for index, spec in enumerate(meta["columns"]):
        pieces = []
        for number, segment in enumerate(spec["segments"]):
            base = f"{key}/c{index}/s{number}"
            kind = segment["kind"]
            if kind in ("str8", "json8"):
                blob = reader.load(f"{base}/values") if _has(reader, f"{base}/values") else []
                texts = _split_utf8(np.asarray(blob), reader.load(f"{base}/ends"))
                values = _decode_segment(object_array(texts), kind[:-1])
            else:
                values = _decode_segment(reader.load(f"{base}/values"), kind)
            mask = reader.load(f"{base}/mask") if _has(reader, f"{base}/mask") else None
            pieces.append((int(segment["start"]), values, mask))
        columns[spec["name"]] = _assemble(pieces, length)
    node._table.adopt(columns, length)
    for index in range(int(meta["children"])):
        child_key = f"{key}/n{index}"
        if _has(reader, f"{child_key}/_meta"):
            _load_node(reader, child_key, node_type).set_parent(node)
    return node


def _assemble(
    pieces: list[tuple[int, npt.NDArray[Any], npt.NDArray[np.bool_] | None]], length: int
) -> Column:
    """One column of ``length`` rows from its segments (rows outside them are missing)."""
    if not pieces:
        column = Column()
        column.pad_missing(length)
        return column
    dtype = pieces[0][1].dtype
    for _, values, _ in pieces[1:]:
        dtype = promote(dtype, values.dtype)
    data = object_array([None] * length) if dtype.kind == "O" else np.zeros(length, dtype)
    mask = np.ones(length, bool)
    for start, values, segment_mask in pieces:
        stop = min(length, start + len(values))
        data[start:stop] = values[: stop - start]
        mask[start:stop] = False if segment_mask is None else segment_mask[: stop - start]
    return Column.from_arrays(data, mask)


# ------------------------------------------------------------------ streaming
class RecordStream:
    """Sends every record a subtree commits to an HDF5 file through a sink client.

    Made by ``stream_to(recorder, client, key)``. A node's records travel when its pending
    values become numpy (every few thousand records, or at ``flush()``/``close()``); each node's
    ``_meta`` is rewritten then, so a file from a killed worker still loads up to its last flush.
    ``close()`` flushes the whole subtree and waits until the file holds it. Nodes added below a
    streamed node later are streamed too.
    """

    def __init__(self, root: Node, client: _Writer, key: str) -> None:
        self._root = root
        self._client = client
        self._key = normalize_key(key)
        self._keys: dict[int, str] = {id(root): self._key}
        self._segments: dict[int, list[list[dict[str, Any]]]] = {}
        self._identities: dict[tuple[int, str], str] = {}
        self._bytes: dict[tuple[int, str], int] = {}
        self._closed = False
        self._listener: Callable[[Node, int, int], None] = self._on_flush
        for node in root.walk():
            node._listeners.append(self._listener)

    def _key_of(self, node: Node) -> str:
        known = self._keys.get(id(node))
        if known is None:
            parent = node._parent
            if parent is None:
                raise RecorderError("a streamed node was detached from its stream's tree")
            known = f"{self._key_of(parent)}/n{parent._children.index(node)}"
            self._keys[id(node)] = known
        return known

    def _on_flush(self, node: Node, start: int, stop: int) -> None:
        if self._closed:
            return
        key = self._key_of(node)
        all_segments = self._segments.setdefault(id(node), [])
        for index, (name, column) in enumerate(node._table.columns.items()):
            if index == len(all_segments):
                all_segments.append([])
            if not column.typed:
                continue
            segments = all_segments[index]
            data, mask = column.view()
            kind = _segment_arrays(data[:0])[1]
            identity = data.dtype.str if kind == "num" else kind
            state = (id(node), name)
            if not segments or self._identities[state] != identity:
                segments.append({"start": start, "kind": kind if kind == "num" else kind + "8"})
                self._identities[state] = identity
                self._bytes[state] = 0
            base = f"{key}/c{index}/s{len(segments) - 1}"
            if kind == "num":
                self._client.extend(f"{base}/values", data[start:stop])
            else:
                self._extend_text(state, base, data[start:stop], kind)
            missing = np.zeros(stop - start, bool) if mask is None else mask[start:stop]
            self._client.extend(f"{base}/mask", missing)
        self._write_meta(node, key)

    def _extend_text(
        self, state: tuple[int, str], base: str, data: npt.NDArray[Any], kind: str
    ) -> None:
        """Text travels as UTF-8 bytes plus end offsets (one uint8 and one int64 dataset)."""
        if kind == "json":
            texts = [encode_value(value) for value in data.tolist()]
        else:
            texts = data.tolist()
        encoded = [text.encode("utf-8") for text in texts]
        lengths = np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded))
        ends = np.cumsum(lengths) + self._bytes[state]
        self._bytes[state] = int(ends[-1]) if len(ends) else self._bytes[state]
        blob = np.frombuffer(b"".join(encoded), dtype=np.uint8)
        if blob.size:
            self._client.extend(f"{base}/values", blob)
        self._client.extend(f"{base}/ends", ends)

    def _write_meta(self, node: Node, key: str) -> None:
        all_segments = self._segments.get(id(node), [])
        columns = [
            {"name": name, "segments": all_segments[index] if index < len(all_segments) else []}
            for index, name in enumerate(node._table.columns)
        ]
        self._client.write(f"{key}/_meta", _meta(node, columns, len(node._children)))

    def flush(self) -> None:
        """Send every pending record of the subtree (and each node's fields)."""
        for node in self._root.walk():
            if node._table.length != node._table.flushed:
                node.flush()
            else:
                self._write_meta(node, self._key_of(node))
        flush = getattr(self._client, "flush", None)
        if flush is not None:
            flush()

    def close(self) -> None:
        """Flush, then stop streaming (the recorder keeps its records). Idempotent."""
        if self._closed:
            return
        try:
            self.flush()
        finally:
            self._closed = True
            for node in self._root.walk():
                if self._listener in node._listeners:
                    node._listeners.remove(self._listener)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def stream_to(recorder: Node, client: _Writer, key: str) -> RecordStream:
    """Stream ``recorder``'s subtree into the sink behind ``client`` under ``key``.

    ``client`` is ``Hdf5Sink(path, sharing="queue").client()`` handed to a worker (or any
    object with the sink's ``write``/``extend``/``flush``). Give each worker its own ``key``.
    """
    return RecordStream(recorder, client, key)
