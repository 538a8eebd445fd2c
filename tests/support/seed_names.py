"""A machine-wide lock for tests that run other libraries' documented code as written.

That code uses fixed shared-memory names ('unique_buffer'); two test runs on one machine
(xdist workers, or several checkouts) would take each other's names. Holding this lock makes
such tests run one at a time across every test process of this user.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock

LOCK_PATH = Path(tempfile.gettempdir()) / "ataraxis-like-tests-fixed-names.lock"


@contextmanager
def fixed_names() -> Iterator[None]:
    """Hold the lock for the block (waits up to a minute for another run's block)."""
    with FileLock(str(LOCK_PATH), timeout=60):
        yield
