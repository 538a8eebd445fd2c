"""What a SharedMemoryArray write accepts: every value it holds without loss, nothing else.

Each case is written through both entry points, ``sma[i] = v`` (whose scalar fast path skips
the general check) and ``write_data``; a refusal is a DataMismatchError that leaves the array
as it was. Issue 16 defect 5 (structured fields) and issue 19 (the fast path) are covered here.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator
from fractions import Fraction
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ataraxis_like import SharedMemoryArray
from ataraxis_like.errors import DataMismatchError

pytestmark = pytest.mark.timeout(120)

PAIR = [("a", "i4"), ("b", "f8")]
NESTED = [("id", "u1"), ("pos", "f4", (3,)), ("tag", [("n", "i2"), ("s", "U3")])]

ACCEPTED = [
    ("f8", 7, 7.0),
    ("f8", True, 1.0),
    ("f8", np.int64(-3), -3.0),
    ("f8", np.float32(2.5), 2.5),
    ("f8", 2**70, float(2**70)),
    ("f4", 2**70, float(2**70)),
    ("f4", 1.5, 1.5),
    ("f4", 0.1, np.float32(0.1)),
    ("f4", float("inf"), float("inf")),
    ("f2", 65504, 65504.0),
    ("i1", 127, 127),
    ("i1", -128.0, -128),
    ("i1", np.uint8(5), 5),
    ("u8", 2**64 - 1, 2**64 - 1),
    ("u2", np.array(3.0), 3),
    ("?", True, True),
    ("?", np.False_, False),
    ("c8", 1 + 2j, 1 + 2j),
    ("c16", 3, 3 + 0j),
    ("c16", np.float32(0.5), 0.5 + 0j),
    ("M8[s]", np.datetime64("2020-01-01T00:00:01.000"), np.datetime64("2020-01-01T00:00:01")),
    ("M8[ms]", np.datetime64("2020-01-01T00:00:01"), np.datetime64("2020-01-01T00:00:01")),
    ("m8[s]", np.timedelta64(3000, "ms"), np.timedelta64(3, "s")),
    ("U3", "abc", "abc"),
    ("U3", b"ab", "ab"),
    ("S3", "ab", b"ab"),
    (PAIR, (2, 1.0), (2, 1.0)),
    (PAIR, (2.0, 1), (2, 1.0)),
    (PAIR, np.array((3, 0.5), dtype=[("x", "i2"), ("y", "f4")]), (3, 0.5)),
    (NESTED, (1, [0.5, 1, 2], (7, "abc")), (1, [0.5, 1.0, 2.0], (7, "abc"))),
]

REFUSED = [
    ("f8", 10**400, "too large|larger than any float"),
    ("f8", 1 + 1j, "complex128"),
    ("f8", "1.5", "<U3"),
    ("f4", 1e300, "exceeds the largest float32"),
    ("f4", -1e39, "exceeds the largest float32"),
    ("f2", 70000, "exceeds the largest float16"),
    ("f4", np.float64(1e300), "exceeds the largest float32"),
    ("i1", 128, "out of bounds|outside"),
    ("i1", 2.5, "fractional"),
    ("i1", float("nan"), "non-finite"),
    ("i8", 2.0**63, "outside"),
    ("i4", np.int64(2**40), "outside"),
    ("u1", -1, "out of bounds|outside"),
    ("u8", np.int64(-1), "outside"),
    ("u8", 2**64, "object|too large"),
    ("?", 1, "int64"),
    ("?", 1.0, "float64"),
    ("c8", 1e300 + 0j, "exceeds the largest complex64"),
    ("c8", 10**40, "exceeds the largest complex64"),
    ("M8[s]", np.datetime64("2020-01-01T00:00:00.500"), "finer than"),
    ("m8[s]", np.timedelta64(3, "ms"), "finer than"),
    ("M8[s]", 5, "int64"),
    ("m8[s]", np.datetime64("2020-01-01"), "datetime64"),
    ("U2", "abc", "longer than 2"),
    ("U2", 5, "int64"),
    ("U2", b"\xff", "not ASCII"),
    ("S3", "é", "not ASCII"),
    (PAIR, (2.5, 1.0), "field 'a': .*fractional"),
    (PAIR, (2**40, 1.0), "field 'a': .*outside"),
    (PAIR, (2, 1 + 1j), "field 'b': .*complex"),
    (PAIR, (1, 2, 3), "fields"),
    (PAIR, np.array((2.5, 1.0), dtype=[("x", "f8"), ("y", "f8")]), "field 'a'"),
    (NESTED, (1, [0.5, 1, 1e300], (7, "abc")), "field 'pos': .*float32"),
    (NESTED, (1, [0.5, 1, 2], (7, "abcd")), "field 'tag': field 's': .*longer"),
    (NESTED, (256, [0.5, 1, 2], (7, "abc")), "field 'id'"),
]


def _label(case: tuple[Any, ...]) -> str:
    return f"{np.dtype(case[0])}<-{case[1]!r}"[:60]


@pytest.fixture
def make(shm_name: str) -> Iterator[Any]:
    made: list[SharedMemoryArray] = []

    def array(dtype: Any, prototype: Any = None) -> SharedMemoryArray:
        values = np.zeros(4, dtype=dtype) if prototype is None else prototype
        handle = SharedMemoryArray.create_array(f"{shm_name}_{len(made)}", values)
        made.append(handle)
        return handle

    yield array
    for handle in made:
        handle.destroy()


def _same(got: Any, expected: Any) -> bool:
    got = got.item() if isinstance(got, np.generic) and got.dtype.kind not in "MmV" else got
    if isinstance(got, np.void):
        return bool(got == np.array(expected, dtype=got.dtype)[()])
    return bool(got == expected)


def _write(handle: SharedMemoryArray, entry: str, value: Any) -> None:
    if entry == "setitem":
        handle[1] = value
    elif entry == "write_data":
        handle.write_data(1, value)
    else:
        handle.write_data((1, 3), [value, value])


@pytest.mark.parametrize("case", ACCEPTED, ids=_label)
@pytest.mark.parametrize("entry", ["setitem", "write_data"])
def test_lossless_values_are_stored_exactly(make: Any, case: tuple[Any, ...], entry: str) -> None:
    dtype, value, expected = case
    handle = make(dtype)
    _write(handle, entry, value)
    assert _same(handle[1], expected), (handle[1], expected)


@pytest.mark.parametrize("case", REFUSED, ids=_label)
@pytest.mark.parametrize("entry", ["setitem", "write_data", "slice"])
def test_lossy_values_are_refused_and_change_nothing(
    make: Any, case: tuple[Any, ...], entry: str
) -> None:
    dtype, value, reason = case
    handle = make(dtype)
    before = handle.read_data((0,))
    with pytest.raises(DataMismatchError, match=reason) as caught:
        _write(handle, entry, value)
    message = str(caught.value)
    assert "\n" not in message
    assert "without loss" in message
    assert "convert the data to" in message
    assert isinstance(caught.value, ValueError)
    np.testing.assert_array_equal(handle.read_data((0,)), before)


def test_structured_defect_5_is_refused_field_by_field(make: Any) -> None:
    """Issue 16 defect 5: (2.5, 1.0) was stored as (2, 1.0); 2**40 gave a raw OverflowError."""
    handle = make(PAIR)
    handle.write_data(index=0, data=(3, 4.0))
    with pytest.raises(DataMismatchError, match="field 'a'"):
        handle.write_data(index=0, data=(2.5, 1.0))
    with pytest.raises(DataMismatchError, match="field 'a'"):
        handle.write_data(index=0, data=(2**40, 1.0))
    assert handle.read_data(0).tolist() == (3, 4.0)
    rows = [(1, 0.5), (2, 1.5)]
    handle.write_data((1, 3), rows)
    assert handle.read_data((1, 3)).tolist() == rows
    with pytest.raises(DataMismatchError, match="field 'a'"):
        handle.write_data((1, 3), [(1, 0.5), (2.5, 1.5)])
    assert handle.read_data((1, 3)).tolist() == rows


def test_integers_beyond_64_bits_round_into_floats_in_any_form(make: Any) -> None:
    handle = make("f4")
    handle[0] = 2**70
    handle.write_data((1, 3), [2**70, -(2**80)])
    assert handle.read_data((0, 3)).tolist() == [float(2**70), float(2**70), -float(2**80)]
    with pytest.raises(DataMismatchError, match="larger than any float"):
        handle.write_data((1, 3), [2**70, 10**400])
    with pytest.raises(DataMismatchError, match="float32"):
        handle[3] = 10**50


def test_fast_path_takes_the_common_scalars_without_the_general_check() -> None:
    """The types the issue names skip the general check; lossy ones never do."""
    from ataraxis_like.shm._coerce import ElementRule

    assert {int, float, bool, np.float32, np.int64, np.bool_} <= ElementRule(np.dtype("f8")).fast
    assert np.float64 not in ElementRule(np.dtype("f4")).fast
    assert float not in ElementRule(np.dtype("f4")).fast
    assert np.int64 not in ElementRule(np.dtype("i4")).fast
    assert float not in ElementRule(np.dtype("i8")).fast
    assert int not in ElementRule(np.dtype("?")).fast
    assert ElementRule(np.dtype("U4")).fast == frozenset()
    assert ElementRule(np.dtype(PAIR)).fast == frozenset()
    assert ElementRule(np.dtype("M8[s]")).fast == frozenset()
    assert ElementRule(np.dtype("f4")).accepts(3.0e38)
    assert not ElementRule(np.dtype("f4")).accepts(3.5e38)
    assert not ElementRule(np.dtype("f4")).accepts(float("nan"))  # general check: NaN is fine


NUMERIC = ["i1", "u1", "i2", "u2", "i4", "u4", "i8", "u8", "f2", "f4", "f8", "c8", "c16", "?"]


@pytest.fixture(scope="module")
def numeric_arrays() -> Iterator[dict[str, SharedMemoryArray]]:
    """One array per numeric dtype, shared by every example of the property test."""
    tag = uuid.uuid4().hex[:12]
    arrays = {
        name: SharedMemoryArray.create_array(f"test_{tag}_{index}", np.zeros(2, dtype=name))
        for index, name in enumerate(NUMERIC)
    }
    yield arrays
    for handle in arrays.values():
        handle.destroy()


def _holds(dtype: np.dtype[Any], value: Any) -> bool:
    """An independent oracle, in exact arithmetic: does ``dtype`` hold ``value``? Integers and
    bools must be stored exactly; float and complex dtypes may round, but not to infinity."""
    if isinstance(value, np.generic):
        value = value.item()
    if dtype.kind == "b":
        return isinstance(value, bool)
    if isinstance(value, complex):
        if dtype.kind != "c":
            return False
        parts = [value.real, value.imag]
    else:
        parts = [value]
    if dtype.kind in "iu":
        if isinstance(parts[0], float) and not math.isfinite(parts[0]):
            return False
        exact = Fraction(parts[0])
        info = np.iinfo(dtype)
        return exact.denominator == 1 and info.min <= exact <= info.max
    finfo = np.finfo(dtype)
    largest, epsilon = Fraction(float(finfo.max)), Fraction(float(finfo.eps))
    rounds_to_infinity = largest + epsilon * (largest / (2 - epsilon)) / 2  # max + half an ulp
    return all(
        (isinstance(part, float) and not math.isfinite(part))
        or abs(Fraction(part)) < rounds_to_infinity
        for part in parts
    )


numbers = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.integers(min_value=-300, max_value=300),
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=-1e6, max_value=1e6).map(round).map(float),
    st.complex_numbers(allow_nan=False, max_magnitude=1e300),
    st.sampled_from([2**63 - 1, 2**63, 2**64 - 1, -(2**63), 65504.0, 65519.0, 65520.0, 3.5e38]),
)
numpy_scalars = (
    st.tuples(numbers, st.sampled_from(NUMERIC))
    .filter(lambda pair: _holds(np.dtype(pair[1]), pair[0]))
    .map(lambda pair: np.dtype(pair[1]).type(pair[0]))
)


@settings(max_examples=800, deadline=None)
@given(
    value=st.one_of(numbers, numpy_scalars),
    target=st.sampled_from(NUMERIC),
    entry=st.sampled_from(["setitem", "write_data"]),
)
def test_every_numeric_write_is_stored_exactly_or_refused(
    numeric_arrays: dict[str, SharedMemoryArray], value: Any, target: str, entry: str
) -> None:
    handle = numeric_arrays[target]
    dtype = np.dtype(target)
    handle[0] = dtype.type(0)
    holds = _holds(dtype, value)
    try:
        if entry == "setitem":
            handle[0] = value
        else:
            handle.write_data(0, value)
    except DataMismatchError:
        assert not holds, f"{value!r} refused by {dtype}"
        assert handle[0] == 0
        return
    assert holds, f"{value!r} stored in {dtype} as {handle[0]!r}"
    stored = np.array(handle[0])
    if dtype.kind in "iub":
        assert stored == value
    else:  # the nearest value of the dtype, as numpy rounds it
        with np.errstate(over="ignore"):
            nearest = np.array(complex(value) if dtype.kind == "c" else float(value)).astype(dtype)
        np.testing.assert_array_equal(stored, nearest)


@pytest.fixture(params=["compiled", "python"])
def store_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """``sma[i] = v`` through the compiled locked store, or through trylock and unlock."""
    from ataraxis_like.shm import array

    if request.param == "compiled" and array._locked_store is None:
        pytest.skip("accelerator not built here")
    if request.param == "python":
        monkeypatch.setattr(array, "_locked_store", None)
    return str(request.param)


def test_element_write_waits_for_a_busy_lock(make: Any, store_path: str) -> None:
    import threading

    handle = make("f8")
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with handle.array():
            held.set()
            release.wait(30)

    holder = threading.Thread(target=hold)
    holder.start()
    assert held.wait(30)
    writer = threading.Thread(target=handle.__setitem__, args=(2, 7))
    writer.start()
    writer.join(0.2)
    assert writer.is_alive(), f"{store_path}: a write went through a lock held elsewhere"
    release.set()
    writer.join(30)
    holder.join(30)
    assert handle[2] == 7.0
    with pytest.raises(DataMismatchError, match="too large"):
        handle[2] = 10**400  # refused inside the locked store: the lock is given back
    handle[3] = 1
    assert handle.read_data((0,)).tolist() == [0.0, 0.0, 7.0, 1.0]


def _hold_and_die(handle: SharedMemoryArray) -> None:
    import os
    import signal

    handle.connect()
    handle.array().__enter__()
    os.kill(os.getpid(), signal.SIGKILL)


def test_element_write_recovers_a_lock_whose_holder_died(make: Any, store_path: str) -> None:
    """The compiled store's trylock then holds the lock (EOWNERDEAD): the write recovers it,
    stores, warns, and unlocks, so the next write goes through."""
    import multiprocessing as mp

    from ataraxis_like.errors import LockOwnerDiedWarning

    handle = make("i8")
    child = mp.get_context("fork").Process(target=_hold_and_die, args=(handle,))
    child.start()
    child.join(30)
    with pytest.warns(LockOwnerDiedWarning):
        handle[1] = 5
    assert handle.holder_died
    handle[2] = 6
    assert not handle.holder_died
    assert handle.read_data((0,)).tolist() == [0, 5, 6, 0]
    assert handle.lock_recoveries == 1
