"""How ShmQueue items become records and records become items again.

Bytes and arrays travel as raw bytes (an array's dtype and shape in the record's meta); anything
else is pickled. Reading back checks every record against what it claims: an array's meta must
describe exactly its payload, and a pickle is unpickled only from a segment whose pickles are
trusted (see _trust). A record that fails is reported as ItemDecodeError, never unpickled.
"""

from __future__ import annotations

import ast
import math
import pickle
from typing import Any

import numpy as np

from ..errors import ItemDecodeError, UnpicklableItemError, UntrustedPickleError
from ._integrity import MAX_DIMENSIONS

KIND_BYTES, KIND_ARRAY, KIND_PICKLE = 1, 2, 3

_array_meta: dict[tuple[np.dtype[Any], tuple[int, ...]], bytes] = {}
_array_layout: dict[bytes, tuple[np.dtype[Any], tuple[int, ...], int]] = {}
_CACHE_LIMIT = 4096


class _MalformedError(Exception):
    """A record that does not hold what it claims (internal: becomes ItemDecodeError)."""


class Undecodable:
    """What ``copy_out`` hands out for a record it cannot turn into an item: the reason and
    the record's bytes. ``decode`` raises ItemDecodeError for it, outside the lock."""

    __slots__ = ("raw", "reason")

    def __init__(self, reason: str, raw: bytes) -> None:
        self.reason = reason
        self.raw = raw


def _encode_array(array: np.ndarray) -> bytes:
    key = (array.dtype, array.shape)
    meta = _array_meta.get(key)
    if meta is None:
        descr = np.lib.format.dtype_to_descr(array.dtype)
        meta = repr((descr, array.shape)).encode()
        if len(_array_meta) < _CACHE_LIMIT:
            _array_meta[key] = meta
    return meta


def _parse_layout(meta: bytes) -> tuple[np.dtype[Any], tuple[int, ...], int]:
    try:
        descr, shape = ast.literal_eval(meta.decode())
        dtype = np.lib.format.descr_to_dtype(descr)
        shape = tuple(shape)
    except Exception as error:  # any text can sit in a record: numpy and ast raise many kinds
        raise _MalformedError(
            f"its array description {meta[:80]!r} cannot be read ({error})"
        ) from None
    if (
        dtype.hasobject
        or len(shape) > MAX_DIMENSIONS
        or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape)
    ):
        raise _MalformedError(f"its array description {meta[:80]!r} is not a fixed-size array")
    return dtype, shape, math.prod(shape) * dtype.itemsize


def array_layout(meta: bytes, nbytes: int) -> tuple[np.dtype[Any], tuple[int, ...]]:
    """dtype and shape of an array record whose payload has ``nbytes``; _MalformedError if the meta
    does not describe exactly that many bytes."""
    layout = _array_layout.get(meta)
    if layout is None:
        layout = _parse_layout(meta)
        if len(_array_layout) < _CACHE_LIMIT:
            _array_layout[meta] = layout
    dtype, shape, expected = layout
    if expected != nbytes:
        raise _MalformedError(
            f"its array of {shape} {dtype} needs {expected} bytes, it holds {nbytes}"
        )
    return dtype, shape


def encode(item: Any) -> tuple[int, bytes, Any, int]:
    """(kind, meta, payload buffer, payload length) for an item."""
    if isinstance(item, bytes | bytearray):
        return KIND_BYTES, b"", item, len(item)
    if isinstance(item, np.ndarray) and not item.dtype.hasobject:
        contiguous = item if item.flags.c_contiguous else item.copy(order="C")
        return (
            KIND_ARRAY,
            _encode_array(contiguous),
            contiguous.reshape(-1).view(np.uint8),
            (contiguous.nbytes),
        )
    if isinstance(item, memoryview):
        flat = item.cast("B") if item.c_contiguous else memoryview(item.tobytes())
        return KIND_BYTES, b"", flat, flat.nbytes
    try:
        data = pickle.dumps(item, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as error:  # pickle raises PicklingError, TypeError, AttributeError ...
        raise UnpicklableItemError(
            f"cannot put a {type(item).__name__} into a queue: it is not bytes or a numpy "
            f"array, and pickle refuses it ({error}); convert it to bytes, an array or a "
            "picklable object",
            item_type=type(item).__name__,
        ) from error
    return KIND_PICKLE, b"", data, len(data)


def copy_out(kind: int, meta: bytes, view: memoryview) -> Any:
    """Runs under the ring's lock: one copy from the ring into the object handed out.

    Arrays land directly in their final array; pickles are only copied here and unpickled
    after the lock is released (unpickling runs user code). Never raises: a record that is not
    what it claims becomes an ``Undecodable``, so the rest of the batch is still delivered.
    """
    if kind == KIND_ARRAY:
        try:
            dtype, shape = array_layout(meta, view.nbytes)
            array = np.empty(shape, dtype)
            array.reshape(-1).view(np.uint8)[:] = view
        except Exception as error:  # _MalformedError, or numpy refusing a layout it described
            return Undecodable(str(error), bytes(view))
        return array
    return bytes(view)


def decode(kind: int, meta: bytes, payload: Any, pickles_trusted: bool, label: str) -> Any:
    """The item a record holds, from ``copy_out``'s result or from a view into the ring;
    ItemDecodeError (UntrustedPickleError for a pickle we may not run) when it cannot be."""
    if kind == KIND_BYTES:  # copy_out never makes an Undecodable of bytes
        return payload
    if kind == KIND_ARRAY:
        if isinstance(payload, np.ndarray):
            return payload
        if isinstance(payload, Undecodable):
            raise _decode_error(label, payload.reason, payload.raw)
        try:
            dtype, shape = array_layout(meta, payload.nbytes)
            return np.frombuffer(payload, dtype=dtype).reshape(shape)
        except Exception as error:
            raise _decode_error(label, str(error), bytes(payload)) from None
    if kind == KIND_PICKLE:
        if not pickles_trusted:
            raise UntrustedPickleError(
                f"{label} holds a pickled item from a user whose pickles are not trusted (it was "
                "not unpickled: unpickling runs the writer's code); its bytes are in .raw. Attach "
                "with allow_pickle=True only if that user may run code as you",
                label=label,
                raw=[bytes(payload)],
                items=[],
            )
        try:
            return pickle.loads(payload)
        except Exception as error:  # whatever the pickled object's own code raises
            reason = f"unpickling failed: {error!r:.200}"
            raise _decode_error(label, reason, bytes(payload)) from error
    raw = payload.raw if isinstance(payload, Undecodable) else bytes(payload)
    raise _decode_error(label, f"its kind {kind} is not one a queue writes", raw)


def _decode_error(label: str, reason: str, raw: bytes) -> ItemDecodeError:
    return ItemDecodeError(
        f"an item taken from {label} cannot be decoded: {reason}; it has left the queue and its "
        "bytes are in .raw (a corrupt or foreign record: check who writes to this queue)",
        label=label,
        raw=[raw],
        items=[],
    )


def decode_all(
    records: list[tuple[int, bytes, Any]], pickles_trusted: bool, label: str
) -> list[Any]:
    """Every record's item, in order. If some cannot be decoded, the first such error is raised
    once all are tried, carrying the others' items (``items``) and every failed one's bytes
    (``raw``), so nothing taken is lost."""
    items: list[Any] = []
    append = items.append
    failures: list[ItemDecodeError] = []
    for kind, meta, payload in records:
        if kind == KIND_BYTES or type(payload) is np.ndarray:  # copied out whole: no call
            append(payload)
            continue
        try:
            append(decode(kind, meta, payload, pickles_trusted, label))
        except ItemDecodeError as error:
            failures.append(error)
    if failures:
        first = failures[0]
        first.items = items
        first.details["items"] = items
        first.raw = first.details["raw"] = [raw for failure in failures for raw in failure.raw]
        raise first
    return items
