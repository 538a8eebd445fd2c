"""SharedMemoryArray: a named numpy array in shared memory, guarded by a robust lock.

A creator makes the segment from a prototype array; child processes receive the handle through
``Process(args=...)`` (spawn or fork) and call ``connect()``; any other process attaches knowing
only the name, because shape and dtype live in the segment header. Every access takes the
segment's lock by default, and reads always return copies.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

import numpy as np

from ..errors import (
    ArrayIndexError,
    CreatorOnlyError,
    DataMismatchError,
    NotConnectedError,
    SegmentExistsError,
)
from . import _integrity, _posix, _segment, _trust
from ._arguments import checked_timeout
from ._coerce import ElementRule, lossless, mismatch
from ._takeover import in_use, make_room

Index = int | tuple[int] | tuple[int, int] | slice


class SharedMemoryArray:
    """A handle to a named shared array. Make one with ``create_array`` or ``attach``."""

    def __init__(self, name: str, shape: tuple[int, ...], datatype: np.dtype[Any], token: int):
        self._name = _segment.validate_name(name)
        self._shape = tuple(shape)
        self._length = self._shape[0] if self._shape else 0
        self._datatype = np.dtype(datatype)
        self._token = token
        self._segment: _segment.Segment | None = None
        self._array: np.ndarray | None = None
        self._pointer: Any = None
        self._rule = ElementRule(self._datatype)
        self._fast = self._rule.fast  # scalar types stored by plain assignment, unchecked
        self._last_acquire_recovered = False
        self._locked = _LockedArray(self, True, None)
        self._trust = _trust.OWN_USER

    # ----------------------------------------------------------------- lifetime
    @classmethod
    def create_array(
        cls, name: str, prototype: Any, exist_ok: bool = False, *, exists_ok: bool | None = None
    ) -> SharedMemoryArray:
        """Create segment ``name`` holding a copy of ``prototype`` and return a connected handle.

        With ``exist_ok=True`` an array already under ``name`` is replaced when that cuts nobody
        off: a leftover of a dead process, or one this process made earlier (a re-run notebook
        cell; the earlier handle keeps its now-unnamed copy). One that a live process made or
        still maps is refused (SegmentExistsError naming the pids). ``exists_ok`` is the 4.x
        spelling of the same flag.
        """
        if exists_ok is not None:
            exist_ok = exists_ok
        _segment.validate_name(name)
        try:
            source = np.asarray(prototype)
        except Exception as error:  # numpy refuses ragged, mixed or undecodable data in many ways
            raise DataMismatchError(
                f"shared array {name!r} cannot be made from {prototype!r:.60}: numpy cannot turn "
                f"it into an array ({error}); pass an array or a regular nested list",
                name=name,
            ) from None
        if source.dtype.hasobject:
            raise DataMismatchError(
                f"shared array {name!r} needs a fixed-size dtype (got {source.dtype} holding "
                "Python objects); convert the prototype to numeric, string or structured data",
                name=name,
            )
        meta = {
            "descr": np.lib.format.dtype_to_descr(source.dtype),
            "shape": tuple(int(n) for n in source.shape),
        }
        foreign = _trust.foreign_owner_error(_segment.segment_path(name), name)
        if foreign is not None:  # another user's: never replaced, and the error names them
            raise foreign
        if exist_ok:
            make_room(name)
        try:
            segment = _segment.create(name, _segment.KIND_ARRAY, meta, source.nbytes, exist_ok)
        except SegmentExistsError as error:
            if "owner_uid" in error.details:
                raise
            raise in_use(name, exist_ok) from None
        handle = cls(name, source.shape, source.dtype, segment.header.token)
        handle._bind(segment)
        assert handle._array is not None
        handle._array[...] = source
        return handle

    @classmethod
    def attach(cls, name: str, *, trust: int | str | Iterable[int | str] = ()) -> SharedMemoryArray:
        """Connect to the existing array ``name`` from any process, knowing only its name.

        Only arrays created by this process's own user are attached, unless ``trust`` names
        their creator (a uid or login name, or several); see docs/shared-memory.md.
        """
        policy = _trust.Trust.of(trust)
        segment = _segment.attach(name, _segment.KIND_ARRAY, trust=policy)
        try:
            shape, datatype = _layout(segment)
        except BaseException:
            segment.close()
            raise
        handle = cls(name, shape, datatype, segment.header.token)
        handle._trust = policy
        handle._bind(segment)
        return handle

    def connect(self) -> None:
        """Map the segment in this process (a no-op when already connected here)."""
        if self._segment is not None:
            return
        segment = _segment.attach(self._name, _segment.KIND_ARRAY, self._token, self._trust)
        try:
            if _layout(segment) != (self._shape, self._datatype):
                raise _integrity.corrupt(
                    self._name,
                    f"its header now describes {_layout(segment)}, not the {self._shape} "
                    f"{self._datatype} it was made with",
                )
        except BaseException:
            segment.close()
            raise
        self._bind(segment)

    def _bind(self, segment: _segment.Segment) -> None:
        self._segment = segment
        self._array = np.ndarray(self._shape, self._datatype, buffer=segment.data())
        self._pointer = segment.lock.pointer

    def disconnect(self) -> None:
        """Unmap the segment here; the data stays for every other process."""
        segment, self._segment, self._array = self._segment, None, None
        if segment is not None:
            segment.close()

    def destroy(self) -> None:
        """Remove the segment from its name and disconnect: the creating process's act, whether
        or not it is connected. A no-op once the name no longer holds this segment."""
        if _segment.created_here(self._name, self._token):
            _segment.remove(self._name, self._token)
        else:
            info = _segment.inspect_segment(_segment.segment_path(self._name))
            if info.token == self._token:
                raise CreatorOnlyError(
                    f"shared array {self._name!r} was created by pid {info.creator_pid}, not "
                    f"this process ({os.getpid()}); call disconnect() here and destroy() there",
                    name=self._name,
                )
        self.disconnect()

    def enable_buffer_destruction(self) -> None:
        """Accepted for code written against ataraxis-data-structures 4.x; nothing to enable:
        the creating process removes its arrays when it exits, attachers never do."""

    def __enter__(self) -> SharedMemoryArray:
        self.connect()
        return self

    def __exit__(self, *exc_info: object) -> None:
        segment = self._segment
        if segment is not None and segment.header.creator_pid == os.getpid():
            self.destroy()
        else:
            self.disconnect()

    def __getstate__(self) -> dict[str, Any]:
        return {
            "name": self._name,
            "shape": self._shape,
            "descr": np.lib.format.dtype_to_descr(self._datatype),
            "token": self._token,
            **self._trust.state(),
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        datatype = np.lib.format.descr_to_dtype(state["descr"])
        self.__init__(state["name"], state["shape"], datatype, state["token"])  # type: ignore[misc]
        self._trust = _trust.Trust.from_state(state)

    # --------------------------------------------------------------- properties
    @property
    def name(self) -> str:
        return self._name

    @property
    def shape(self) -> tuple[int, ...]:
        return self._shape

    @property
    def datatype(self) -> np.dtype[Any]:
        return self._datatype

    @property
    def nbytes(self) -> int:
        return int(np.prod(self._shape, dtype=np.int64)) * self._datatype.itemsize

    @property
    def is_connected(self) -> bool:
        return self._segment is not None

    @property
    def is_creator(self) -> bool:
        """True in the process that created the segment (and so may destroy it)."""
        segment = self._segment
        return segment is not None and segment.header.creator_pid == os.getpid()

    @property
    def lock_recoveries(self) -> int:
        """How many times a dead lock holder has been recovered from, over the segment's life."""
        return self._require().recoveries

    @property
    def holder_died(self) -> bool:
        """True when this handle's latest lock acquisition took the lock from a dead holder."""
        return self._last_acquire_recovered

    def __repr__(self) -> str:
        state = "connected" if self.is_connected else "disconnected"
        return (
            f"SharedMemoryArray(name={self._name!r}, shape={self._shape}, "
            f"datatype={self._datatype}, {state})"
        )

    def __len__(self) -> int:
        return self._length

    # ------------------------------------------------------------------- access
    def _require(self) -> _segment.Segment:
        if self._segment is None:
            raise NotConnectedError(
                f"shared array {self._name!r} is not connected in this process; "
                "call connect() first",
                name=self._name,
            )
        return self._segment

    def _acquire(self, timeout: float | None) -> None:
        result = _trylock(self._pointer)
        if result == 0:
            self._last_acquire_recovered = False
        else:
            self._last_acquire_recovered = self._require().lock.acquire_slow(result, timeout)

    def _live(self) -> np.ndarray:
        if self._array is None:
            self._require()
        assert self._array is not None
        return self._array

    def _key(self, index: Any) -> Any:
        """Turn the reference library's index forms into a numpy key, bounds-checked on axis 0."""
        length = self._length
        if isinstance(index, bool) or (not isinstance(index, int | np.integer | tuple | slice)):
            raise self._index_error(index, "an int, (start,) or (start, stop)")
        if isinstance(index, int | np.integer):
            if not -length <= index < length:
                raise self._index_error(index, f"an int in [{-length}, {length})")
            return int(index)
        if isinstance(index, slice):
            return index
        if len(index) not in (1, 2) or not all(
            isinstance(i, int | np.integer) and not isinstance(i, bool) for i in index
        ):
            raise self._index_error(index, "(start,) or (start, stop) of ints")
        start = int(index[0]) + (length if index[0] < 0 else 0)
        stop = length if len(index) == 1 else int(index[1]) + (length if index[1] < 0 else 0)
        if not 0 <= start <= stop <= length:
            raise self._index_error(index, f"0 <= start <= stop <= {length}")
        return slice(start, stop)

    def _index_error(self, index: Any, expected: str) -> ArrayIndexError:
        return ArrayIndexError(
            f"index {index!r} does not address shared array {self._name!r} of shape "
            f"{self._shape}: expected {expected}; fix the index",
            name=self._name,
            index=index,
        )

    def _value(self, data: Any) -> Any:
        if type(data) in self._fast or self._rule.accepts(data):
            return data
        return lossless(data, self._datatype, f"shared array {self._name!r}")

    def read_data(
        self,
        index: Index = (0,),
        convert_output: bool = False,
        with_lock: bool = True,
        timeout: float | None = None,
    ) -> Any:
        """Copy out ``index`` (int, ``(start,)`` or ``(start, stop)`` along the first axis).

        Returns numpy data, or Python scalars and lists with ``convert_output=True``.
        """
        array = self._array
        if array is None:
            array = self._live()
        length = self._length
        key = index if type(index) is int and -length <= index < length else self._key(index)
        if timeout is not None:
            timeout = checked_timeout(timeout, f"shared array {self._name!r}")
        if with_lock:
            self._acquire(timeout)
        try:
            value = array[key]
            if type(value) in _VIEW_TYPES:
                value = value.copy()
        except (IndexError, TypeError, ValueError, OverflowError) as error:  # 0-d, step 0 ...
            raise self._index_error(index, str(error)) from None
        finally:
            if with_lock:
                _unlock(self._pointer)
        return value.tolist() if convert_output else value

    def write_data(
        self, index: Index, data: Any, with_lock: bool = True, timeout: float | None = None
    ) -> None:
        """Store ``data`` at ``index``; values that would not fit without loss are refused."""
        array = self._array
        if array is None:
            array = self._live()
        length = self._length
        key = index if type(index) is int and -length <= index < length else self._key(index)
        value = self._value(data)
        if timeout is not None:
            timeout = checked_timeout(timeout, f"shared array {self._name!r}")
        if with_lock:
            self._acquire(timeout)
        try:
            array[key] = value
        except _WRITE_ERRORS as error:
            raise self._write_error(error, key, value) from None
        finally:
            if with_lock:
                _unlock(self._pointer)

    def _write_error(self, error: Exception, key: Any, value: Any) -> Exception:
        """The typed error for a failed ``array[key] = value`` (the array is unchanged)."""
        if isinstance(error, OverflowError) and type(value) in self._fast:
            # a fast-path scalar outside the dtype's range (numpy checks it while storing)
            return mismatch(value, self._datatype, f"shared array {self._name!r}", str(error))
        if isinstance(error, IndexError | OverflowError):
            return self._index_error(key, str(error))
        return DataMismatchError(
            f"cannot store data of shape {np.shape(value)} at {key!r} of shared array "
            f"{self._name!r} (shape {self._shape}): {error}; match the target's shape",
            name=self._name,
        )

    def __getitem__(self, key: Any) -> Any:
        array = self._array
        if array is None:
            array = self._live()
        pointer = self._pointer
        result = _trylock(pointer)
        if result == 0:
            self._last_acquire_recovered = False
        else:
            self._last_acquire_recovered = self._require().lock.acquire_slow(result, None)
        try:
            value = array[key]
            if type(value) in _VIEW_TYPES:
                value = value.copy()
        except (IndexError, TypeError, ValueError, OverflowError) as error:  # numpy: a bad key
            raise self._index_error(key, str(error)) from None
        finally:
            _unlock(pointer)
        return value

    def __setitem__(self, key: Any, data: Any) -> None:
        array = self._array
        if array is None:
            array = self._live()
        if type(data) not in self._fast:
            data = self._value(data)
        pointer = self._pointer
        if _locked_store is not None:  # lock, store and unlock in one compiled call
            try:
                result = _locked_store(pointer, array, key, data)
            except _WRITE_ERRORS as error:
                raise self._write_error(error, key, data) from None
            if result == 0:
                self._last_acquire_recovered = False
                return
        else:
            result = _trylock(pointer)
        if result == 0:
            self._last_acquire_recovered = False
        else:  # busy, or taken from a dead holder (then this thread holds it already)
            self._last_acquire_recovered = self._require().lock.acquire_slow(result, None)
        try:
            array[key] = data
        except _WRITE_ERRORS as error:
            raise self._write_error(error, key, data) from None
        finally:
            _unlock(pointer)

    def array(self, with_lock: bool = True, timeout: float | None = None) -> _LockedArray:
        """Use as ``with sma.array() as a:`` for several steps under one lock (atomic
        read-modify-write). ``a`` is the live array: do not keep it past the block."""
        if with_lock and timeout is None:
            return self._locked  # holds no state of its own, so one serves every use
        return _LockedArray(self, with_lock, timeout)


class _LockedArray:
    """The context manager ``array()`` returns (a class: cheaper than a generator per use)."""

    __slots__ = ("_handle", "_timeout", "_with_lock")

    def __init__(self, handle: SharedMemoryArray, with_lock: bool, timeout: float | None) -> None:
        self._handle = handle
        self._with_lock = with_lock
        self._timeout = timeout

    def __enter__(self) -> np.ndarray:
        handle = self._handle
        array = handle._array
        if array is None:
            array = handle._live()
        if self._with_lock:
            result = _trylock(handle._pointer)
            if result == 0:
                handle._last_acquire_recovered = False
            else:
                lock = handle._require().lock
                handle._last_acquire_recovered = lock.acquire_slow(result, self._timeout)
        return array

    def __exit__(self, kind: object, value: object, traceback: object) -> None:
        if self._with_lock:  # fixed arguments: cheaper than *exc_info inside the locked part
            _unlock(self._handle._pointer)


def _layout(segment: _segment.Segment) -> tuple[tuple[int, ...], np.dtype[Any]]:
    """Shape and dtype an array segment's header describes, checked against its file."""
    room = segment.size - segment.header.data_offset
    return _integrity.array_layout(segment.name, segment.header.meta, room)


_VIEW_TYPES = frozenset({np.ndarray, np.void})
_WRITE_ERRORS = (OverflowError, ValueError, IndexError, TypeError)
_trylock = _posix.trylock
_unlock = _posix.unlock
_locked_store = _posix.locked_store
