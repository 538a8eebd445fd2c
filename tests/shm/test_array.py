"""SharedMemoryArray in one process: API, validation, errors and property-based equivalence."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from ataraxis_like import AtaraxisError, SharedMemoryArray
from ataraxis_like.errors import (
    ArrayIndexError,
    CreatorOnlyError,
    DataMismatchError,
    ForeignSegmentError,
    InvalidNameError,
    LockReentryError,
    NotConnectedError,
    SegmentExistsError,
    SegmentNotFoundError,
)
from ataraxis_like.shm._names import segment_path

pytestmark = pytest.mark.timeout(60)


def test_reference_documented_calls(shm_name: str) -> None:
    handle = SharedMemoryArray.create_array(shm_name, np.array([1, 2, 3, 4], dtype=np.int32))
    try:
        assert handle.read_data(index=(0,), convert_output=True) == [1, 2, 3, 4]
        handle.write_data(index=(1, 3), data=[10, 11])
        assert handle.read_data(index=(0,), convert_output=True) == [1, 10, 11, 4]
        element = handle.read_data(index=2)
        assert element == 11
        assert isinstance(element, np.int32)
        assert handle.read_data(index=-1, convert_output=True) == 4
        assert handle.read_data(index=(1, 3)).tolist() == [10, 11]
    finally:
        handle.destroy()


def test_properties_repr_and_context(shm_name: str) -> None:
    with SharedMemoryArray.create_array(shm_name, np.zeros((3, 2), dtype=np.float32)) as handle:
        assert handle.name == shm_name
        assert handle.shape == (3, 2)
        assert handle.datatype == np.float32
        assert handle.nbytes == 24
        assert handle.is_connected
        assert handle.is_creator
        assert len(handle) == 3
        assert repr(handle) == (
            f"SharedMemoryArray(name={shm_name!r}, shape=(3, 2), datatype=float32, connected)"
        )
    assert not handle.is_connected
    assert not segment_path(shm_name).exists()


def test_numpy_indexing_returns_copies(shm_name: str) -> None:
    prototype = np.arange(24, dtype=np.int16).reshape(2, 3, 4)
    with SharedMemoryArray.create_array(shm_name, prototype) as handle:
        block = handle[1, :, 1:3]
        np.testing.assert_array_equal(block, prototype[1, :, 1:3])
        block[...] = 0
        assert handle[1, 0, 1] == prototype[1, 0, 1]
        handle[0, ..., -1] = [100, 101, 102]
        assert handle[0, 2, 3] == 102
        with pytest.raises(ArrayIndexError, match="does not address"):
            handle[5, 0, 0]


def test_array_block_holds_the_lock(shm_name: str) -> None:
    with SharedMemoryArray.create_array(shm_name, np.zeros(3)) as handle:
        with handle.array() as values:
            values += 1.5
            with pytest.raises(LockReentryError, match="already holds"):
                handle.read_data(0)
            assert handle.read_data(0, with_lock=False) == 1.5
        with handle.array(with_lock=False) as unlocked:
            unlocked[2] = 4.0
        assert handle.read_data((0,), convert_output=True) == [1.5, 1.5, 4.0]


@pytest.mark.parametrize(
    ("prototype", "index", "value"),
    [
        (np.zeros(4, dtype=np.complex64), 1, 1 + 2j),
        (np.array([b"ab", b"cd"], dtype="S4"), 0, b"wxyz"),
        (np.array(["ab", "cd"], dtype="U3"), 1, "xyz"),
        (np.zeros(2, dtype=bool), 0, True),
        (np.zeros(3, dtype=[("x", "<f8"), ("n", "<i4"), ("tag", "S2")]), 2, (1.5, 3, b"ok")),
        (np.zeros(2, dtype=np.uint64), 1, 2**64 - 1),
    ],
)
def test_dtypes_round_trip(shm_name: str, prototype: np.ndarray, index: int, value: object) -> None:
    with SharedMemoryArray.create_array(shm_name, prototype) as handle:
        handle.write_data(index, value)
        other = SharedMemoryArray.attach(shm_name)
        assert other.datatype == prototype.dtype
        got = other.read_data(index)
        expected = np.array([value], dtype=prototype.dtype)[0]
        assert got == expected
        if prototype.dtype.kind == "V":
            handle.write_data(index, (0.0, 0, b""))
            assert got == expected  # the structured read was a copy, not a view
        other.disconnect()


@pytest.mark.parametrize(
    ("prototype", "data", "message"),
    [
        (np.zeros(2, dtype=np.uint8), 300, "without loss"),
        (np.zeros(2, dtype=np.int32), 3.7, "without loss"),
        (np.zeros(2, dtype=np.int32), np.array([1, 2**40]), "without loss"),
        (np.zeros(2, dtype="U2"), "abc", "without loss"),
        (np.zeros(2, dtype=np.float64), 1 + 1j, "without loss"),
        (np.zeros(2, dtype=bool), 2, "without loss"),
        (np.zeros(4, dtype=np.int64), [1, 2, 3], "match the target's shape"),
    ],
)
def test_lossy_writes_are_refused(
    shm_name: str, prototype: np.ndarray, data: object, message: str
) -> None:
    with SharedMemoryArray.create_array(shm_name, prototype) as handle:
        before = handle.read_data((0,))
        index = (0, 2) if np.ndim(data) else 0
        with pytest.raises(DataMismatchError, match=message):
            handle.write_data(index, data)
        np.testing.assert_array_equal(handle.read_data((0,)), before)


def test_lossless_conversions_are_accepted(shm_name: str) -> None:
    with SharedMemoryArray.create_array(shm_name, np.zeros(3, dtype=np.int8)) as handle:
        handle.write_data((0, 2), np.array([3.0, -4.0]))
        handle.write_data(2, np.int64(127))
        assert handle.read_data((0,), convert_output=True) == [3, -4, 127]


@pytest.mark.parametrize(
    "index",
    [10, -11, (0, 11), (5, 2), (1, 2, 3), "a", True, 1.5, (0.5,)],
)
def test_bad_indices(shm_name: str, index: object) -> None:
    with SharedMemoryArray.create_array(shm_name, np.zeros(10)) as handle:
        with pytest.raises(ArrayIndexError, match="fix the index") as caught:
            handle.read_data(index)  # type: ignore[arg-type]
        assert isinstance(caught.value, IndexError)


@pytest.mark.parametrize("name", ["", "a/b", "x" * 201, ".hidden", "sp ace", 5])
def test_invalid_names(name: object) -> None:
    with pytest.raises(InvalidNameError) as caught:
        SharedMemoryArray.create_array(name, [1])  # type: ignore[arg-type]
    assert isinstance(caught.value, ValueError)


def test_name_in_use_and_lifecycle_errors(shm_name: str) -> None:
    handle = SharedMemoryArray.create_array(shm_name, [1, 2])
    with pytest.raises(SegmentExistsError, match="made earlier by this process") as caught:
        SharedMemoryArray.create_array(shm_name, [1, 2])
    assert "exist_ok=True" in str(caught.value)
    handle.disconnect()
    with pytest.raises(NotConnectedError, match="call connect"):
        handle.read_data(0)
    handle.connect()
    assert handle.read_data(1) == 2
    copy = pickle.loads(pickle.dumps(handle))
    assert not copy.is_connected
    handle.destroy()
    with pytest.raises(SegmentNotFoundError):
        copy.connect()
    with pytest.raises(FileNotFoundError):
        SharedMemoryArray.attach(shm_name)
    replacement = SharedMemoryArray.create_array(shm_name, [1, 2])
    with pytest.raises(SegmentNotFoundError, match="created anew"):
        copy.connect()
    replacement.destroy()


def test_only_creator_destroys(shm_name: str) -> None:
    import multiprocessing as mp

    with SharedMemoryArray.create_array(shm_name, [1]) as _handle:
        context = mp.get_context("fork")
        queue = context.Queue()

        def try_destroy() -> None:
            other = SharedMemoryArray.attach(shm_name)
            try:
                other.destroy()
                queue.put("destroyed")
            except CreatorOnlyError as error:
                queue.put(type(error).__name__)

        child = context.Process(target=try_destroy)
        child.start()
        assert queue.get(timeout=20) == "CreatorOnlyError"
        child.join(10)
        assert segment_path(shm_name).exists()


def test_foreign_and_wrong_kind_segments_are_refused(shm_name: str) -> None:
    from ataraxis_like.shm import _segment
    from ataraxis_like.shm._header import KIND_QUEUE

    path = segment_path(shm_name)
    path.write_bytes(b"not ours" * 100)
    with pytest.raises(ForeignSegmentError, match="is not an ataraxis-like segment"):
        SharedMemoryArray.attach(shm_name)
    path.unlink()
    queue = _segment.create(shm_name, KIND_QUEUE, {"capacity": 64}, 64, False)
    with pytest.raises(ForeignSegmentError, match="holds a queue, not an array"):
        SharedMemoryArray.attach(shm_name)
    queue.mapping[8:10] = (99).to_bytes(2, "little")
    with pytest.raises(ForeignSegmentError, match="header version 99"):
        SharedMemoryArray.attach(shm_name)
    queue.unlink()
    queue.close()


def test_object_prototype_refused(shm_name: str) -> None:
    with pytest.raises(DataMismatchError, match="fixed-size dtype"):
        SharedMemoryArray.create_array(shm_name, np.array([object()]))


def test_errors_pickle_with_details() -> None:
    error = ArrayIndexError("index 3 is wrong", name="x", index=3)
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is ArrayIndexError
    assert str(copy) == "index 3 is wrong"
    assert copy.index == 3
    assert isinstance(copy, AtaraxisError)
    assert isinstance(copy, IndexError)


_dtypes = st.one_of(
    hnp.integer_dtypes(),
    hnp.unsigned_integer_dtypes(),
    hnp.floating_dtypes(),
    hnp.complex_number_dtypes(),
    hnp.boolean_dtypes(),
    hnp.byte_string_dtypes(max_len=5),
    hnp.unicode_string_dtypes(max_len=5),
)


@st.composite
def _array_and_index(draw: st.DrawFn) -> tuple[np.ndarray, tuple[object, ...]]:
    array = draw(hnp.arrays(_dtypes, hnp.array_shapes(min_dims=1, max_dims=3, max_side=5)))
    index = draw(hnp.basic_indices(array.shape, allow_newaxis=False, allow_ellipsis=True))
    return array, index


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=_array_and_index(), data=st.data())
def test_matches_plain_numpy(
    case: tuple[np.ndarray, tuple[object, ...]], data: st.DataObject
) -> None:
    import uuid

    array, index = case
    name = f"hyp_{uuid.uuid4().hex[:12]}"
    with SharedMemoryArray.create_array(name, array) as handle:
        model = array.copy()
        got = handle[index]
        np.testing.assert_array_equal(got, model[index])
        target_shape = np.shape(model[index])
        replacement = data.draw(hnp.arrays(array.dtype, target_shape))
        model[index] = replacement
        handle[index] = replacement
        np.testing.assert_array_equal(handle.read_data((0,)), model)
        length = array.shape[0]
        start = data.draw(st.integers(0, length))
        stop = data.draw(st.integers(start, length))
        np.testing.assert_array_equal(handle.read_data((start, stop)), model[start:stop])
