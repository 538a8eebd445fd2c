"""What a key holds, how values are checked against it, and how rows travel through the ring.

A key's schema comes from the first value stored there: its dtype and shape. Later values are
accepted only when they convert without loss: numpy values by numpy's "safe" casting, plain
Python numbers by their value (an int that fits, any int or float into a float, NEP 50 style).
Python ``str`` is stored as HDF5 variable-length UTF-8 and ``bytes`` as variable-length uint8
sequences (HDF5 strings cannot hold NUL bytes; reading gives ``bytes`` back);
numpy ``S`` (fixed-length bytes) stays fixed-length, and a longer value is refused.
"""

from __future__ import annotations

import ast
import functools
import math
import re
from dataclasses import dataclass
from typing import Any

import h5py  # type: ignore[import-untyped]
import numpy as np

from ._errors import SinkDataError, SinkKeyError
from ._keys import key_problem

ROWS, ARRAY, OTHER = "rows", "array", "other"
_TEXT_ITEM_BYTES = 64
_SUPPORTED_KINDS = "biufcSV"
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def storable_text(text: str) -> bool:
    """Whether HDF5 can hold ``text`` as UTF-8: no NUL (it ends a string there) and no lone
    surrogate (it has no UTF-8 form)."""
    return _UNSTORABLE.search(text) is None


def normalize_key(key: object) -> str:
    """``key`` as a clean HDF5 path ("a/b/c"), or SinkKeyError saying what is wrong (the rule
    every store follows: ``_keys.key_problem``)."""
    problem = key_problem(key)
    if problem is not None:
        raise SinkKeyError(f"sink key {problem}", key=repr(key))
    assert isinstance(key, str)
    return key.strip("/")


@dataclass(frozen=True)
class Schema:
    """A key's layout: ``shape`` is the row shape for rows keys, the whole shape for arrays."""

    key: str
    kind: str
    dtype: np.dtype[Any]
    shape: tuple[int, ...]
    text: str | None = None

    @property
    def h5_dtype(self) -> Any:
        if self.text == "str":
            return h5py.string_dtype("utf-8")
        if self.text == "bytes":
            return h5py.vlen_dtype(np.dtype(np.uint8))
        return self.dtype

    @property
    def row_bytes(self) -> int:
        size = _TEXT_ITEM_BYTES if self.text is not None else self.dtype.itemsize
        return max(1, size * math.prod(self.shape))

    def describe(self) -> str:
        kind = {"str": "str", "bytes": "bytes"}.get(self.text or "", str(self.dtype))
        if self.kind == ROWS:
            return f"rows of shape {self.shape} {kind}"
        return f"an array of shape {self.shape} {kind}"

    def to_text(self) -> str:
        """``layout + "\\n" + key``: many keys share a layout, which is parsed once."""
        descr = np.lib.format.dtype_to_descr(self.dtype)
        return repr((self.kind, descr, self.shape, self.text)) + "\n" + self.key

    @classmethod
    def from_text(cls, text: str) -> Schema:
        layout, key = text.split("\n", 1)
        return cls(key, *_parse_layout(layout))

    @classmethod
    def from_dataset(cls, key: str, dataset: h5py.Dataset) -> Schema:
        dtype = dataset.dtype
        text = stored_text_kind(dtype)
        if text is not None:
            dtype = np.dtype(object)
        elif dtype.kind not in _SUPPORTED_KINDS or dtype.hasobject:
            return cls(key, OTHER, np.dtype(object), dataset.shape)
        if dataset.maxshape and dataset.maxshape[0] is None:
            return cls(key, ROWS, dtype, dataset.shape[1:], text)
        return cls(key, ARRAY, dtype, dataset.shape, text)


# ------------------------------------------------------------------ new keys
@functools.lru_cache(maxsize=1024)
def _parse_layout(text: str) -> tuple[str, np.dtype[Any], tuple[int, ...], str | None]:
    kind, descr, shape, text_kind = ast.literal_eval(text)
    return kind, np.lib.format.descr_to_dtype(descr), tuple(shape), text_kind


def stored_text_kind(dtype: np.dtype[Any]) -> str | None:
    """ "str" for variable-length UTF-8 text in a file, "bytes" for variable-length uint8, or
    None: how the sink stores text values."""
    string = h5py.check_string_dtype(dtype)
    if string is not None and string.length is None and string.encoding == "utf-8":
        return "str"
    if h5py.check_vlen_dtype(dtype) == np.dtype(np.uint8):
        return "bytes"
    return None


def _text_kind(value: Any) -> str | None:
    if isinstance(value, np.generic):
        return "str" if isinstance(value, np.str_) else None
    if isinstance(value, str):
        return "str"
    if isinstance(value, bytes | bytearray):
        return "bytes"
    return None


def _check_dtype(key: str, dtype: np.dtype[Any], what: str) -> None:
    if dtype.kind not in _SUPPORTED_KINDS or (dtype.kind == "V" and dtype.fields is None):
        raise SinkDataError(
            f"sink key {key!r} cannot store {what} of dtype {dtype}: expected numbers, bools, "
            "str, bytes or a structured dtype of those; convert it (datetime64: .view('i8'))",
            key=key,
        )
    if dtype.fields is not None:
        for name, (field, *_offset) in dtype.fields.items():
            if field.kind in "UO" or field.kind not in _SUPPORTED_KINDS:
                raise SinkDataError(
                    f"sink key {key!r}: structured field {name!r} has dtype {field}; fields must "
                    "be numbers or fixed-length bytes ('S'): encode text fields as 'S' bytes",
                    key=key,
                )


def _array_of(key: str, value: Any, what: str) -> tuple[np.ndarray, str | None]:
    text = _text_kind(value)
    if text is not None:
        if text == "str":
            _check_text(key, [value])
        return np.array(value, dtype=object), text
    array = _as_array(key, value, what)
    if array.dtype.kind == "U":
        _check_text(key, array.reshape(-1).tolist())
        return array.astype(object), "str"
    if array.dtype.kind == "O":
        flat = array.reshape(-1).tolist()
        for kind in ("str", "bytes"):
            if flat and all(_text_kind(item) == kind for item in flat):
                if kind == "str":
                    _check_text(key, flat)
                return array, kind
    _check_dtype(key, array.dtype, what)
    return array, None


def _as_array(key: str, value: Any, what: str) -> np.ndarray:
    try:
        return value if isinstance(value, np.ndarray) else np.asarray(value)
    except (ValueError, TypeError, OverflowError) as error:  # ragged lists, str mixed with bytes
        raise SinkDataError(
            f"sink key {key!r} cannot store {what} from {type(value).__name__} {value!r:.60}: "
            f"it is not an array ({str(error).splitlines()[0][:80]}); pass numbers, text or "
            "bytes, or equal-length lists of them",
            key=key,
        ) from None


def _check_text(key: str, items: list[Any]) -> None:
    for item in items:
        if not storable_text(item):
            raise SinkDataError(
                f"sink key {key!r} cannot store the text {item!r:.60}: HDF5 text holds no NUL "
                "and no lone surrogate; store it as bytes (value.encode('utf-8', "
                "'surrogatepass')) or clean it",
                key=key,
            )


def schema_for_row(key: str, value: Any) -> Schema:
    """The rows schema a first appended value defines."""
    array, text = _array_of(key, value, "rows")
    return _rows_schema(key, array.dtype, array.shape, text)


def schema_for_rows(key: str, values: Any) -> Schema:
    """The rows schema a first extended batch defines (its first axis counts rows)."""
    array, text = _array_of(key, values, "rows")
    if array.ndim == 0:
        raise SinkDataError(
            f"sink key {key!r}: extend takes a sequence of rows, got a single {type(values)!r} "
            "value; use append for one row",
            key=key,
        )
    return _rows_schema(key, array.dtype, array.shape[1:], text)


def _rows_schema(
    key: str, dtype: np.dtype[Any], shape: tuple[int, ...], text: str | None
) -> Schema:
    if 0 in shape:
        raise SinkDataError(
            f"sink key {key!r}: rows of shape {shape} hold nothing, and HDF5 cannot store rows "
            "of zero size; append rows with at least one element",
            key=key,
        )
    return Schema(key, ROWS, dtype, shape, text)


def array_for_write(key: str, value: Any) -> tuple[Schema, np.ndarray]:
    """The array schema ``value`` defines at ``key``, and ``value`` as that array (one
    conversion serves both)."""
    array, text = _array_of(key, value, "an array")
    return Schema(key, ARRAY, array.dtype, array.shape, text), array


# ------------------------------------------------------------------ checking
def _numeric_ok(array: np.ndarray, python: bool, target: np.dtype[Any]) -> bool:
    source = array.dtype
    if source == target or np.can_cast(source, target, "safe"):
        return True
    if not python:
        return False
    if target.kind in "iu" and source.kind in "iu":
        if array.size == 0:
            return True
        info = np.iinfo(target)
        return bool(array.min() >= info.min and array.max() <= info.max)
    return (target.kind == "f" and source.kind in "iuf") or (
        target.kind == "c" and source.kind in "iufc"
    )


def _structured(schema: Schema, value: Any, rows: bool) -> np.ndarray | None:
    """Structured rows from numpy values (safe cast) or tuples (each field checked)."""
    target = schema.dtype
    if isinstance(value, np.ndarray | np.void):
        if value.dtype == target or np.can_cast(value.dtype, target, "safe"):
            return np.asarray(value, dtype=target)
        return None
    records = list(value) if rows else [value]
    names = target.names or ()
    try:
        columns = [np.asarray([tuple(record)[index] for record in records]) for index in
                   range(len(names))]  # fmt: skip
        if any(len(tuple(record)) != len(names) for record in records):
            return None
    except (TypeError, ValueError):
        return None
    out = np.empty(len(records), dtype=target)
    for name, column in zip(names, columns, strict=True):
        field = target.fields[name][0]  # type: ignore[index]
        if column.shape[1:] != field.shape or not _numeric_ok(column, True, field.base):
            return None
        out[name] = column
    return out if rows else out[0]


def _mismatch(schema: Schema, got: str, verb: str) -> SinkDataError:
    return SinkDataError(
        f"sink key {schema.key!r} holds {schema.describe()}; got {got}: {verb} values of the "
        "same shape and a dtype that converts without loss, or use another key",
        key=schema.key,
        expected=schema.describe(),
        got=got,
    )


def _describe_value(array: np.ndarray, text: str | None, rows: bool) -> str:
    shape = array.shape[1:] if rows and array.ndim else array.shape
    kind = text or {"U": "str", "O": "object"}.get(array.dtype.kind, str(array.dtype))
    return f"shape {shape} {kind}"


def _checked(schema: Schema, value: Any, rows: bool, verb: str) -> np.ndarray:
    if schema.kind == OTHER:
        raise _mismatch(schema, "a value", "store only through h5py for this dtype;")
    if schema.dtype.fields is not None:
        result = _structured(schema, value, rows)
        if result is None or result.shape[int(rows) :] != schema.shape:
            shown = getattr(value, "dtype", type(value).__name__)
            raise _mismatch(schema, f"{shown}", verb)
        return result
    if schema.text is not None:
        array, text = _array_of(schema.key, value, "rows")
        if array.ndim == 0 and rows:
            text = None
        if text != schema.text:
            kind = text or str(array.dtype)
            raise _mismatch(schema, f"{kind} values", verb)
    else:
        python = not isinstance(value, np.ndarray | np.generic)
        array = _as_array(schema.key, value, "rows")
        if array.dtype.kind in "UO" or not _numeric_ok(array, python, schema.dtype):
            raise _mismatch(schema, _describe_value(array, None, rows), verb)
    if (array.shape[1:] if rows else array.shape) != schema.shape or (rows and array.ndim == 0):
        if rows and array.ndim and not len(array):  # no rows: their shape does not matter
            return np.empty((0, *schema.shape), dtype=schema.dtype)
        raise _mismatch(schema, _describe_value(array, schema.text, rows), verb)
    return array


def check_row(schema: Schema, value: Any) -> np.ndarray:
    """``value`` as one row of ``schema`` (an array of the row shape), or SinkDataError."""
    if schema.kind != ROWS:
        raise _not_rows(schema)
    return _checked(schema, value, False, "append")


def check_rows(schema: Schema, values: Any) -> np.ndarray:
    """``values`` as rows of ``schema`` (first axis counts rows), or SinkDataError."""
    if schema.kind != ROWS:
        raise _not_rows(schema)
    if is_empty_sequence(values):
        return np.empty((0, *schema.shape), dtype=schema.dtype)
    array = _checked(schema, values, True, "extend with")
    if schema.text is None and array.dtype != schema.dtype:
        array = array.astype(schema.dtype)
    return array


def is_empty_sequence(values: Any) -> bool:
    """An empty list or tuple: no rows, and no dtype to give a new key."""
    return isinstance(values, list | tuple) and not values


def check_writable(schema: Schema) -> None:
    """``write`` may replace an earlier array with any layout, never rows."""
    if schema.kind == ROWS:
        raise SinkDataError(
            f"sink key {schema.key!r} holds appended {schema.describe()}; write() stores whole "
            "arrays: append or extend there, or write to another key",
            key=schema.key,
        )


def _not_rows(schema: Schema) -> SinkDataError:
    return SinkDataError(
        f"sink key {schema.key!r} holds {schema.describe()} stored with write(); append and "
        "extend need a key of rows: use another key",
        key=schema.key,
    )


# ------------------------------------------------------------------ ring payloads
def encode_rows(schema: Schema, rows: np.ndarray) -> tuple[Any, int]:
    """(payload buffer, byte length) of checked rows, for the ring."""
    if schema.text is None:
        contiguous = np.ascontiguousarray(rows, dtype=schema.dtype)
        return contiguous.reshape(-1).view(np.uint8), contiguous.nbytes
    items = [
        item.encode("utf-8") if isinstance(item, str) else bytes(item)
        for item in np.asarray(rows, dtype=object).reshape(-1).tolist()
    ]
    lengths = np.fromiter((len(item) for item in items), dtype="<u4", count=len(items))
    data = lengths.tobytes() + b"".join(items)
    return data, len(data)


def decode_rows(schema: Schema, payload: Any, count: int) -> np.ndarray:
    """Rows from a ring payload (views into the ring for fixed dtypes: copy before release)."""
    if schema.text is None:
        return np.frombuffer(payload, dtype=schema.dtype).reshape(count, *schema.shape)
    items = count * math.prod(schema.shape)
    lengths = np.frombuffer(payload, dtype="<u4", count=items)
    raw = bytes(payload[4 * items :])
    out = np.empty(items, dtype=object)
    offset = 0
    text = schema.text == "str"
    for index, length in enumerate(lengths.tolist()):
        piece = raw[offset : offset + length]
        out[index] = piece.decode("utf-8") if text else piece
        offset += length
    return out.reshape(count, *schema.shape)


def to_h5(schema: Schema, rows: np.ndarray) -> np.ndarray:
    """Rows as h5py writes them: bytes become uint8 arrays (variable-length sequences)."""
    if schema.text != "bytes":
        return rows
    out = np.empty(rows.shape, dtype=schema.h5_dtype)
    flat = out.reshape(-1)
    for index, item in enumerate(rows.reshape(-1).tolist()):
        flat[index] = np.frombuffer(item, dtype=np.uint8)
    return out


def _flat(schema: Schema) -> Schema:
    return Schema(schema.key, ROWS, schema.dtype, (math.prod(schema.shape),), schema.text)


def encode_array(schema: Schema, array: Any) -> tuple[Any, int]:
    """(payload, length) of a whole array for ``write`` through the ring."""
    data = np.asarray(array, dtype=object if schema.text else schema.dtype)
    return encode_rows(_flat(schema), data.reshape(1, -1))


def decode_array(schema: Schema, payload: Any) -> np.ndarray:
    return decode_rows(_flat(schema), payload, 1).reshape(schema.shape)


SCALAR_CODES = {"b": "?", "i1": "b", "u1": "B", "i2": "h", "u2": "H", "i4": "i", "u4": "I",
                "i8": "q", "u8": "Q", "f4": "f", "f8": "d"}  # fmt: skip


def scalar_code(schema: Schema) -> str | None:
    """The struct code that packs one scalar row of ``schema`` (None: not a plain scalar)."""
    if schema.kind != ROWS or schema.shape or schema.text is not None or schema.dtype.fields:
        return None
    dtype = schema.dtype
    name = "b" if dtype.kind == "b" else f"{dtype.kind}{dtype.itemsize}"
    if dtype.byteorder == ">":
        return None
    return SCALAR_CODES.get(name)
