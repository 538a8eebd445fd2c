"""A series' schema: what its first value fixes, and how later values convert to it.

The first value fixes the *schema*: dtype and shape, or text. Later values must convert without
loss: numpy values by numpy's safe casting, Python numbers by value (an int that fits, any int or
float into a float series). Text must be storable in every store (no NUL, no lone surrogate).

Any other picklable value is kept only by a store opened with ``allow_pickle=True``: a series
whose first value is neither a number, a numeric array nor text then holds pickled values (a
list when read; lazy from HDF5). Reading them back also needs ``allow_pickle=True``, because
unpickling runs code chosen by whoever wrote the data: use it only for data you wrote yourself.
"""

from __future__ import annotations

import ast
import pickle
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from ..hdf5._schema import storable_text
from ._errors import RecordValueError

_NUMERIC_KINDS = "biufc"


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
            return cls(np.dtype(object), (), text=True), _text(key, value)
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
        if 0 in array.shape:
            raise RecordValueError(
                f"series {key!r} cannot start with an empty array {array.shape}: every store must "
                "hold its values, and HDF5 cannot hold values of size 0; record non-empty arrays",
                key=key,
            )
        return cls(array.dtype, array.shape), array

    def coerce(self, key: str, value: Any) -> Any:
        """``value`` converted to this schema, or RecordValueError saying why it cannot be."""
        if self.text or self.pickled:
            if self.pickled:
                return pickled(key, value)
            if isinstance(value, str):
                return _text(key, value)
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


def _text(key: str, value: str) -> str:
    """``value`` when every store can keep it (HDF5 text holds no NUL; a lone surrogate has no
    UTF-8 form for HDF5 or Redis)."""
    if storable_text(value):
        return value
    raise RecordValueError(
        f"series {key!r} cannot store the text {value!r:.60}: text holds no NUL and no lone "
        "surrogate in every store; record it as a numpy uint8 array of its bytes, or clean it",
        key=key,
    )


def _unsupported(key: str, value: Any) -> RecordValueError:
    return RecordValueError(
        f"series {key!r} cannot store {_describe(value)}: expected a bool, int, float, str or "
        "a numeric numpy array (or list of numbers); convert the value first, or open the "
        "store with allow_pickle=True to keep any picklable value",
        key=key,
    )
