"""Shared fixtures: unique segment names removed after each test, the start methods, a real
redis-server per test session (per xdist worker) with fresh key namespaces, and the check that
every test module leaves no segment and no child process behind (tests/support/leftovers.py).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from ataraxis_like.shm._names import segment_path
from tests.support.leftovers import leaves_nothing_behind, pytest_configure

__all__ = ["leaves_nothing_behind", "pytest_configure"]  # the check, active in every module


@pytest.fixture
def shm_name() -> Iterator[str]:
    """A fresh segment name; whatever the test leaves under it is removed afterwards."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    yield name
    segment_path(name).unlink(missing_ok=True)


@pytest.fixture(params=["spawn", "fork"])
def start_method(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def redis_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    from tests.recorder.redis_server import redis_server

    with redis_server(tmp_path_factory.mktemp("redis")) as port:
        yield port


@pytest.fixture
def namespace() -> str:
    """A Redis key namespace no other test uses."""
    return f"test-{uuid.uuid4().hex[:12]}"
