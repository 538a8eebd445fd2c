"""Shared fixtures: unique segment names that are removed after each test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from ataraxis_like.shm._segment import segment_path


@pytest.fixture
def shm_name() -> Iterator[str]:
    """A fresh segment name; whatever the test leaves under it is removed afterwards."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    yield name
    segment_path(name).unlink(missing_ok=True)


@pytest.fixture(params=["spawn", "fork"])
def start_method(request: pytest.FixtureRequest) -> str:
    return str(request.param)
