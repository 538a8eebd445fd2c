"""Property: for any entries spread over batch files (with crash copies, several sessions, one or
two compression runs), each archive holds exactly the model's entries in the model's order:
by rebased timestamp, then session, then entry id, however many runs built it."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ataraxis_like.logs import LogArchiveReader, compress_npy_logs

from . import Entry, archive_rows, expected_archive, write_batch

pytestmark = pytest.mark.timeout(120)

entry_specs = st.lists(
    st.tuples(
        st.integers(0, 3),  # source
        st.integers(0, 2),  # session
        st.integers(0, 40),  # timestamp: a narrow range, so ties are common
        st.binary(max_size=40),
        st.integers(0, 3),  # batch file within the session
        st.booleans(),  # also written again to the next file (a crashed logger's copy)
    ),
    min_size=1,
    max_size=60,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    specs=entry_specs,
    onsets=st.lists(st.integers(0, 10**6), min_size=3, max_size=3),
    split=st.integers(0, 4),
    compress=st.booleans(),
    remove=st.booleans(),
)
def test_archives_match_the_model(
    specs: list[tuple[int, int, int, bytes, int, bool]],
    onsets: list[int],
    split: int,
    compress: bool,
    remove: bool,
) -> None:
    session_onsets = {session: 1_700_000_000_000_000 + onsets[session] for session in range(3)}
    files: dict[tuple[int, int], list[Entry]] = {}
    entries = []
    for number, (source, session, stamp, payload, batch, copied) in enumerate(specs):
        entry = Entry(source, stamp, payload, session, number * 8)
        entries.append(entry)
        files.setdefault((session, batch), []).append(entry)
        if copied:
            files.setdefault((session, batch + 1), []).append(entry)
    with tempfile.TemporaryDirectory() as name:
        directory = Path(name)
        runs = [[key for key in files if key[1] < split], [key for key in files if key[1] >= split]]
        for run in runs:
            for session, batch in run:
                write_batch(directory, files[(session, batch)], session_onsets[session], batch)
            if run:
                result = compress_npy_logs(directory, remove_sources=remove, compress=compress)
                assert not result.problems
        for source in {entry.source for entry in entries}:
            onset, rows = expected_archive(entries, session_onsets, source)
            path = directory / f"{source}_log.npz"
            got = archive_rows(path)
            assert got == rows
            reader = LogArchiveReader(path)
            assert reader.onset_us == onset
            assert [(t, p.tobytes()) for t, p in reader] == [(r[0], r[3]) for r in got]
