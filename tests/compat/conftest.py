"""Fixtures: a real redis-server per test session (per xdist worker), and fresh namespaces."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.recorder.redis_server import redis_server


@pytest.fixture(scope="session")
def redis_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    with redis_server(tmp_path_factory.mktemp("redis")) as port:
        yield port


@pytest.fixture
def namespace() -> str:
    """A Redis key namespace no other test uses."""
    return f"test-{uuid.uuid4().hex[:12]}"
