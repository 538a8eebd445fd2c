"""Shared fixtures: unique segment names removed after each test, the start methods, a real
redis-server per test session (per xdist worker) with fresh key namespaces, and the check that
every test module leaves no segment and no child process behind (tests/support/leftovers.py).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from ataraxis_like.shm._names import segment_path
from tests.support import leftovers
from tests.support.leftovers import leaves_nothing_behind

__all__ = ["leaves_nothing_behind"]  # the check, active in every module


def pytest_configure(config: pytest.Config) -> None:
    """Label this process's segments (leftovers), and under xdist accept forks beside its I/O
    thread: execnet runs one that ``threading`` does not list, so from 3.12 on every fork in a
    worker warns. Without xdist the warning stays on: a thread there is ours, and the per-module
    check fails any module that leaves one running."""
    leftovers.pytest_configure(config)
    if os.environ.get("PYTEST_XDIST_WORKER"):
        config.addinivalue_line(
            "filterwarnings",
            r"ignore:This process \(pid=\d+\) is multi-threaded:DeprecationWarning",
        )


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
