"""Keys: one rule for every store (hdf5._keys.key_problem). A sink refuses a bad key in the
caller, in every sharing mode; in queue mode a refused key never reaches the writer, which goes
on writing every other key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ataraxis_like.hdf5 import Hdf5Sink, SinkDataError, SinkKeyError, open_sink
from ataraxis_like.hdf5._schema import normalize_key as sink_key
from ataraxis_like.recorder import SeriesKeyError
from ataraxis_like.recorder.stores import normalize_key as series_key

pytestmark = pytest.mark.timeout(90)

BAD_KEYS: list[Any] = ["a\x00b", "a\x00c", "tab\tkey", "line\nbreak", "del\x7f", "c1\x85",
                       "s\ud800", "", "/", "a//b", "a/./b", "../a", "__sink__/x", 5,
                       None]  # fmt: skip


@pytest.mark.parametrize("sharing", [None, "lock", "queue"])
def test_bad_keys_are_refused_in_the_caller(h5_path: Path, sharing: str | None) -> None:
    with Hdf5Sink(h5_path, "w", sharing=sharing) as sink:
        sink.append("good", 0)
        for key in BAD_KEYS:
            calls = [(sink.append, (key, 1)), (sink.extend, (key, [1, 2])),
                     (sink.write, (key, np.zeros(2)))]  # fmt: skip
            for method, arguments in calls:
                with pytest.raises(SinkKeyError) as caught:
                    method(*arguments)
                assert "\n" not in str(caught.value)
            if key not in ("", "/"):  # those name the file's root for attributes
                with pytest.raises(SinkKeyError):
                    sink.set_attrs(key, unit="s")
        sink.append("good", 1)
    with open_sink(h5_path) as reader:
        assert reader.keys() == ["good"]
        assert reader.load("good").tolist() == [0, 1]


def test_queue_writer_goes_on_after_keys_that_differ_after_nul(h5_path: Path) -> None:
    """Before: 'a\\x00b' and 'a\\x00c' both became 'a' in the file; the second stopped the
    writer, and the rows of every other key queued behind it were lost."""
    sink = Hdf5Sink(h5_path, "w", sharing="queue")
    client = sink.client()
    for row in range(100):
        client.append("other", row)
        if row == 50:
            for key in ("a\x00b", "a\x00c"):
                with pytest.raises(SinkKeyError, match="control character"):
                    client.append(key, row)
    client.flush()
    client.append("text", "fine")
    for bad in ("nul\x00inside", "lone \ud800"):
        with pytest.raises(SinkDataError, match="no NUL and no lone surrogate"):
            client.append("text", bad)
    for attributes in ({"none": None}, {"nested": {"a": 1}}, {"t\x00": 1}):
        with pytest.raises((SinkDataError, SinkKeyError)):
            client.set_attrs("other", **attributes)
    client.set_attrs("other", unit="count")
    sink.close()
    with open_sink(h5_path) as reader:
        assert sorted(reader.keys()) == ["other", "text"]
        assert reader.load("other").tolist() == list(range(100))
        assert reader.attrs("other")["unit"] == "count"


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=12), st.text(alphabet="/.a\x00\t_", max_size=8)))
def test_one_rule_for_sink_and_series_keys(key: str) -> None:
    """The sink and every recorder store take exactly the same keys, in the same clean form."""
    from ataraxis_like.hdf5._keys import key_problem

    problem = key_problem(key)
    outcomes = []
    for normalize, error in ((sink_key, SinkKeyError), (series_key, SeriesKeyError)):
        try:
            outcomes.append(normalize(key))
        except error:
            outcomes.append(None)
    assert outcomes[0] == outcomes[1]
    assert (problem is None) == (outcomes[0] is not None)
    if outcomes[0] is not None:
        assert outcomes[0] == key.strip("/")
        assert all(ord(character) >= 0x20 for character in outcomes[0])
