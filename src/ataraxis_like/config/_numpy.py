"""Converters for numpy scalars and small numpy arrays, typed by the dtype the annotation names.

Arrays are written as nested YAML lists (rows in flow style), scalars as plain YAML numbers.
Narrow floats (float16, float32) are written in their shortest exact form, so ``np.float32(0.1)``
is saved as ``0.1`` and reads back bit-identical. Only bool, int, uint and float dtypes up to 64
bits are supported: anything else has no plain YAML form that reads back exactly.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ._errors import KeyPath
from ._spec import INVALID, DumpContext, LoadContext, Spec, type_hint


def check_dtype(dtype: np.dtype[Any]) -> None:
    """Raises TypeError for a dtype whose values have no exact plain YAML form."""
    if dtype.kind not in "biuf" or (dtype.kind == "f" and dtype.itemsize > 8):
        raise TypeError(f"numpy dtype {dtype.name} is not supported: use bool, int, uint or float")


def _coerce(dtype: np.dtype[Any], data: object, exact: bool) -> tuple[Any, str]:
    """Converts one plain value to the dtype's scalar, or returns ``(None, hint)``."""
    kind = dtype.kind
    if kind == "b":
        if type(data) is not bool:
            return None, type_hint("bool", data, None)
        return dtype.type(data), ""
    if kind in "iu":
        if type(data) is not int:
            return None, type_hint("int", data, None)
        info = np.iinfo(dtype)
        if not info.min <= data <= info.max:
            return None, f"{dtype.name} holds {info.min} to {info.max}"
        return dtype.type(data), ""
    if type(data) is float:
        with np.errstate(over="ignore"):
            result = dtype.type(data)
        if math.isinf(result) and not math.isinf(data):
            return None, f"too large for {dtype.name}"
        return result, ""
    if type(data) is int and not exact:
        try:
            widened = dtype.type(data)
        except OverflowError:
            widened = None
        if widened is not None and int(widened) == data:
            return widened, ""
        return None, f"{dtype.name} cannot hold this int exactly"
    return None, type_hint("float", data, None)


def _plain(dtype: np.dtype[Any], scalar: Any) -> object:
    """The plain Python number that YAML writes for a numpy scalar of ``dtype``."""
    if dtype.kind == "b":
        return bool(scalar)
    if dtype.kind in "iu":
        return int(scalar)
    if dtype.itemsize < 8:
        return float(str(scalar))
    return float(scalar)


class NumpyScalarSpec(Spec):
    """A numpy scalar type such as ``np.float32`` or ``np.uint8``."""

    def __init__(self, dtype: np.dtype[Any]) -> None:
        self.dtype = dtype
        self.name = f"numpy.{dtype.name}"

    def load(self, data: object, path: KeyPath, ctx: LoadContext) -> object:
        result, hint = _coerce(self.dtype, data, ctx.exact)
        if result is None:
            return ctx.mismatch(path, self.name, data, hint)
        return result

    def dump(self, value: object, path: KeyPath, ctx: DumpContext) -> object:
        if type(value) is self.dtype.type:
            return _plain(self.dtype, value)
        plain = value.item() if isinstance(value, np.generic) else value
        result, hint = _coerce(self.dtype, plain, ctx.exact)
        if result is None:
            return ctx.mismatch(path, self.name, value, hint)
        return _plain(self.dtype, result)


class NdarraySpec(Spec):
    """A numpy array of one dtype, written as nested lists (a bare scalar for 0-d arrays)."""

    def __init__(self, dtype: np.dtype[Any]) -> None:
        self.dtype = dtype
        self.name = f"numpy array of {dtype.name}"

    def load(self, data: object, path: KeyPath, ctx: LoadContext) -> object:
        if isinstance(data, dict):
            return ctx.mismatch(path, f"{self.name} (nested lists)", data)
        shape: list[int] = []
        probe = data
        while isinstance(probe, list):
            shape.append(len(probe))
            probe = probe[0] if probe else None
        flat: list[Any] = []
        before = len(ctx.problems)
        self._collect(data, path, shape, ctx, flat)
        if len(ctx.problems) > before:
            return INVALID
        return np.array(flat, dtype=self.dtype).reshape(shape)

    def _collect(
        self, data: object, path: KeyPath, shape: list[int], ctx: LoadContext, flat: list[Any]
    ) -> None:
        """Checks that ``data`` has ``shape`` and appends its converted elements to ``flat``."""
        if not shape:
            if isinstance(data, list | dict):
                hint = "all rows must have the same nesting"
                ctx.mismatch(path, f"a {self.dtype.name} number", data, hint)
                return
            result, hint = _coerce(self.dtype, data, ctx.exact)
            if result is None:
                ctx.mismatch(path, self.dtype.name, data, hint)
            flat.append(result)
            return
        if not isinstance(data, list) or len(data) != shape[0]:
            expected = f"a list of {shape[0]} item{'' if shape[0] == 1 else 's'}"
            ctx.mismatch(path, expected, data, "all rows of an array must have the same length")
            return
        for index, item in enumerate(data):
            self._collect(item, (*path, index), shape[1:], ctx, flat)

    def dump(self, value: object, path: KeyPath, ctx: DumpContext) -> object:
        if type(value) is not np.ndarray:
            hint = f"wrap it in np.asarray(..., dtype=np.{self.dtype.name})"
            return ctx.mismatch(path, self.name, value, hint)
        if not np.can_cast(value.dtype, self.dtype, casting="safe"):
            hint = f"convert it with .astype(np.{self.dtype.name})"
            return ctx.mismatch(path, self.name, value, hint)
        if any(size == 0 for size in value.shape[:-1]):
            hint = "an empty axis before the last one cannot be written as nested lists"
            return ctx.mismatch(path, self.name, value, hint)
        array = value.astype(self.dtype)
        flat = [_plain(self.dtype, item) for item in array.flat]
        return _nest(flat, array.shape)


def _nest(flat: list[Any], shape: tuple[int, ...]) -> object:
    """Reshapes a flat list into nested lists; a 0-d shape gives its single element."""
    if not shape:
        return flat[0]
    if len(shape) == 1:
        return flat
    step = len(flat) // shape[0] if shape[0] else 0
    return [_nest(flat[i * step : (i + 1) * step], shape[1:]) for i in range(shape[0])]
