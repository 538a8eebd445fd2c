"""Fixtures for the HDF5 sink tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ataraxis_like.hdf5 import Hdf5Sink, SinkError


@pytest.fixture
def h5_path(tmp_path: Path) -> Path:
    return tmp_path / "data.h5"


@pytest.fixture
def make_sink() -> Iterator[Callable[..., Hdf5Sink]]:
    """Sinks made through this are closed after the test even when it fails."""
    made: list[Hdf5Sink] = []

    def factory(*arguments: object, **options: object) -> Hdf5Sink:
        sink = Hdf5Sink(*arguments, **options)  # type: ignore[arg-type]
        made.append(sink)
        return sink

    yield factory
    for sink in made:
        try:
            sink.close()
        except (SinkError, OSError):
            pass
