"""Run code as another local user: a forked child that drops to uid/gid 65534 ('nobody').

Only root can change its user, so tests that use this are skipped (with the reason shown) when
not run as root.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from multiprocessing.connection import Connection
from typing import Any

import pytest

OTHER_UID = 65534

needs_root = pytest.mark.skipif(
    os.geteuid() != 0, reason="needs root: the test runs code as another user (uid 65534)"
)


def _run_as_other_user(body: Callable[[Connection], None], connection: Connection) -> None:
    try:
        os.setgroups([])
        os.setgid(OTHER_UID)
        os.setuid(OTHER_UID)
        body(connection)
    except BaseException:
        connection.send(("failed", traceback.format_exc()))
        raise


@contextmanager
def other_user(body: Callable[[Connection], None]) -> Iterator[tuple[Connection, int]]:
    """Run ``body(connection)`` as uid 65534 in a forked child; yield the parent's end of the
    pipe and the child's pid. On leaving, the parent sends ``"done"`` and the child must then
    end cleanly within 30 s."""
    parent_end, child_end = mp.Pipe()
    child = mp.get_context("fork").Process(target=_run_as_other_user, args=(body, child_end))
    child.start()
    assert child.pid is not None
    try:
        yield parent_end, child.pid
    finally:
        parent_end.send("done")
        child.join(30)
        if child.exitcode is None:
            child.kill()
            child.join(5)
    assert child.exitcode == 0, f"the other user's process ended with {child.exitcode}"


def receive(connection: Connection, timeout: float = 30) -> Any:
    """The next message from the other user's process; fails the test on its traceback."""
    assert connection.poll(timeout), "the other user's process sent nothing"
    message = connection.recv()
    if isinstance(message, tuple) and message and message[0] == "failed":
        raise AssertionError(f"the other user's process failed:\n{message[1]}")
    return message
