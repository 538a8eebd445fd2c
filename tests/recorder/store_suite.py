"""The conformance suite every store passes: subclass StoreSuite and say how to make a store.

Each test class in test_stores.py gives ``make`` (a fresh, empty store) and, for stores that keep
data beyond the object, ``reopen`` (a new store object over the same data).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from ataraxis_like.recorder import (
    RecordValueError,
    SeriesKeyError,
    Store,
    StoreClosedError,
    UntrustedPickleError,
)


class Point:
    """A user's own class, recorded pickled."""

    def __init__(self, x: int) -> None:
        self.x = x

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Point) and other.x == self.x

    __hash__ = None  # type: ignore[assignment]


class StoreSuite:
    persistent = True

    @pytest.fixture
    def store(self, request: pytest.FixtureRequest) -> Any:
        made = self.make(request)
        yield made
        made.close()

    def make(self, request: pytest.FixtureRequest, allow_pickle: bool = False) -> Store:
        raise NotImplementedError

    def reopen(
        self, store: Store, request: pytest.FixtureRequest, allow_pickle: bool = False
    ) -> Store:
        raise NotImplementedError

    # ---------------------------------------------------------------- values
    def test_scalars_keep_their_kind(self, store: Store) -> None:
        for value in (3, 4, 5):
            store.append("ints", value)
        for value in (0.5, 1.5):
            store.append("floats", value)
        store.append("flags", True)
        store.append("flags", False)
        ints, floats, flags = store.get("ints"), store.get("floats"), store.get("flags")
        assert np.asarray(ints).tolist() == [3, 4, 5]
        assert np.asarray(ints).dtype == np.int64
        assert np.asarray(floats).tolist() == [0.5, 1.5]
        assert np.asarray(floats).dtype == np.float64
        assert np.asarray(flags).tolist() == [True, False]
        assert np.asarray(flags).dtype == np.bool_

    def test_numpy_dtype_is_kept(self, store: Store) -> None:
        store.append("small", np.float32(0.25))
        store.append("small", np.float32(0.75))
        store.append("bytes", np.uint8(200))
        assert np.asarray(store.get("small")).dtype == np.float32
        assert np.asarray(store.get("bytes")).tolist() == [200]
        assert np.asarray(store.get("bytes")).dtype == np.uint8

    def test_arrays_stack_along_a_first_axis(self, store: Store) -> None:
        frames = np.arange(24, dtype=np.int16).reshape(4, 2, 3)
        for frame in frames:
            store.append("camera/frames", frame)
        got = store.get("camera/frames")
        assert len(got) == 4
        assert np.array_equal(np.asarray(got), frames)
        assert np.asarray(got).dtype == np.int16
        assert np.array_equal(got[1:3], frames[1:3])
        assert np.array_equal(got[2], frames[2])

    def test_text(self, store: Store) -> None:
        for word in ("alpha", "b", "ünïcode ✓"):
            store.append("notes", word)
        got = store.get("notes")
        assert [str(item) for item in got] == ["alpha", "b", "ünïcode ✓"]
        assert str(got[2]) == "ünïcode ✓"

    def test_extend_takes_lists_and_arrays(self, store: Store) -> None:
        store.extend("a", [1.0, 2.0])
        store.extend("a", np.array([3.0, 4.0]))
        store.extend("a", [])
        store.append("a", 5.0)
        assert np.asarray(store.get("a")).tolist() == [1.0, 2.0, 3.0, 4.0, 5.0]

    def test_values_are_copied_when_recorded(self, store: Store) -> None:
        frame = np.zeros(3)
        store.append("frame", frame)
        frame[:] = 7
        store.append("frame", frame)
        assert np.asarray(store.get("frame")).tolist() == [[0, 0, 0], [7, 7, 7]]

    def test_many_values_in_order(self, store: Store) -> None:
        for value in range(3000):
            store.append("count", value)
        assert np.array_equal(np.asarray(store.get("count")), np.arange(3000))

    # ---------------------------------------------------------------- schema
    def test_lossless_conversions_are_accepted(self, store: Store) -> None:
        store.append("f", 1.5)
        store.append("f", 2)
        store.append("f", np.int32(3))
        store.append("f", True)
        assert np.asarray(store.get("f")).tolist() == [1.5, 2.0, 3.0, 1.0]

    @pytest.mark.parametrize(
        ("first", "later"),
        [
            (1, 1.5),
            (np.int8(1), 300),
            (1.0, "text"),
            ("text", 1.0),
            (np.zeros(3), np.zeros(4)),
            (np.zeros(3), 1.0),
            (np.float64(1), np.complex128(1j)),
        ],
    )
    def test_lossy_values_are_refused(self, store: Store, first: Any, later: Any) -> None:
        store.append("k", first)
        with pytest.raises(RecordValueError, match="'k' holds") as caught:
            store.append("k", later)
        assert isinstance(caught.value, ValueError)
        assert len(store.get("k")) == 1

    @pytest.mark.parametrize("value", [{"a": 1}, None, object(), b"bytes", [1, "x"]])
    def test_unsupported_values_are_refused(self, store: Store, value: Any) -> None:
        with pytest.raises(RecordValueError, match="cannot store"):
            store.append("k", value)
        assert "k" not in store

    def test_validate_stores_nothing(self, store: Store) -> None:
        store.validate("v", 1.0)
        assert "v" not in store
        store.append("v", 1.0)
        with pytest.raises(RecordValueError):
            store.validate("v", "x")
        assert len(store.get("v")) == 1

    # ---------------------------------------------------------------- pickled values
    ANY_VALUES = ({"a": [1, 2]}, None, Point(3), b"\x00raw", [1, "x"], "text", 2.5, (1,))

    def test_any_picklable_value_with_allow_pickle(self, request: pytest.FixtureRequest) -> None:
        with self.make(request, allow_pickle=True) as store:
            store.append("any", self.ANY_VALUES[0])
            store.extend("any", list(self.ANY_VALUES[1:]))
            store.extend("any", np.arange(2))  # numbers go in one by one, pickled
            got = store.get("any")
            assert len(got) == len(self.ANY_VALUES) + 2
            assert list(got) == [*self.ANY_VALUES, 0, 1]
            assert got[2] == Point(3)
            assert list(got[1:3]) == [None, Point(3)]
            assert store.keys() == ["any"]
            store.append("numbers", 1)  # a number first still makes a numeric series
            with pytest.raises(RecordValueError, match="'numbers' holds values of shape"):
                store.append("numbers", {"a": 1})
            assert np.asarray(store.get("numbers")).dtype == np.int64

    def test_pickled_values_are_copies(self, request: pytest.FixtureRequest) -> None:
        with self.make(request, allow_pickle=True) as store:
            state = {"step": 0}
            store.append("state", state)
            state["step"] = 1
            store.append("state", state)
            assert list(store.get("state")) == [{"step": 0}, {"step": 1}]

    def test_unpicklable_value_is_refused(self, request: pytest.FixtureRequest) -> None:
        with self.make(request, allow_pickle=True) as store:
            with pytest.raises(RecordValueError, match="cannot be pickled"):
                store.append("k", lambda: None)
            assert "k" not in store
            store.append("k", {"ok": True})
            with pytest.raises(RecordValueError, match="cannot be pickled"):
                store.append("k", lambda: None)
            assert len(store.get("k")) == 1

    def test_reading_pickles_needs_the_opt_in(self, request: pytest.FixtureRequest) -> None:
        if not self.persistent:
            pytest.skip("only this store object, opened with allow_pickle, holds pickles")
        store = self.make(request, allow_pickle=True)
        store.append("mine", Point(1))
        store.append("plain", 1.5)
        store.close()
        wary = self.reopen(store, request)
        try:
            assert wary.keys() == ["mine", "plain"]
            assert np.asarray(wary.get("plain")).tolist() == [1.5]
            with pytest.raises(UntrustedPickleError, match="allow_pickle=True") as caught:
                wary.get("mine")
            assert isinstance(caught.value, PermissionError)
            if getattr(wary, "mode", "a") != "r":
                with pytest.raises(UntrustedPickleError):
                    wary.append("mine", Point(2))
        finally:
            wary.close()
        trusting = self.reopen(store, request, allow_pickle=True)
        try:
            assert list(trusting.get("mine")) == [Point(1)]
        finally:
            trusting.close()

    # ---------------------------------------------------------------- keys
    def test_keys_and_prefixes(self, store: Store) -> None:
        for key in ("a/b", "a/c/d", "ab", "z"):
            store.append(key, 1)
        assert store.keys() == ["a/b", "a/c/d", "ab", "z"]
        assert store.keys("a") == ["a/b", "a/c/d"]
        assert store.keys("a/c") == ["a/c/d"]
        assert sorted(store.get_all("a")) == ["a/b", "a/c/d"]
        assert sorted(store.get_all("/")) == ["a/b", "a/c/d", "ab", "z"]
        assert store.get_all("nothing") == {}
        assert "a/b" in store
        assert "/a/b/" in store
        assert "a" not in store
        assert 3 not in store

    def test_missing_key_is_a_key_error(self, store: Store) -> None:
        with pytest.raises(KeyError, match="no series 'nope'"):
            store.get("nope")

    @pytest.mark.parametrize("key", ["", "/", "a//b", "a/./b", "../a", 7, "__sink__/x"])
    def test_malformed_keys_are_refused(self, store: Store, key: Any) -> None:
        with pytest.raises(SeriesKeyError):
            store.append(key, 1)

    def test_a_key_cannot_also_be_a_prefix(self, store: Store) -> None:
        store.append("a/b", 1)
        with pytest.raises(SeriesKeyError, match="clashes with the existing key 'a/b'"):
            store.append("a", 1)
        with pytest.raises(SeriesKeyError, match="clashes with the existing key 'a/b'"):
            store.append("a/b/c", 1)
        store.append("a/bc", 1)
        assert store.keys() == ["a/b", "a/bc"]

    # ---------------------------------------------------------------- lifetime
    def test_closed_store_refuses_use(self, store: Store) -> None:
        store.append("x", 1)
        store.close()
        store.close()
        assert store.closed
        with pytest.raises(StoreClosedError, match="closed"):
            store.append("x", 2)
        with pytest.raises(StoreClosedError):
            store.get("x")

    def test_context_manager_closes(self, request: pytest.FixtureRequest) -> None:
        with self.make(request) as store:
            store.append("x", 1)
        assert store.closed

    def test_reopened_store_has_the_data(self, request: pytest.FixtureRequest) -> None:
        if not self.persistent:
            pytest.skip("this store keeps nothing beyond its object")
        store = self.make(request)
        store.extend("run/loss", [0.5, 0.25])
        store.append("run/name", "first")
        store.close()
        again = self.reopen(store, request)
        try:
            assert again.keys() == ["run/loss", "run/name"]
            assert np.asarray(again.get("run/loss")).tolist() == [0.5, 0.25]
            assert [str(item) for item in again.get("run/name")] == ["first"]
            if getattr(again, "mode", "a") != "r":
                again.append("run/loss", 0.125)
                with pytest.raises(RecordValueError):
                    again.append("run/loss", "text")
                assert np.asarray(again.get("run/loss")).tolist() == [0.5, 0.25, 0.125]
        finally:
            again.close()
