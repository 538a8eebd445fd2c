"""The trust boundary: another local user's segments are refused, and their pickles never run.

The hostile user is real: a forked child drops to uid 65534 and creates the segment (see
tests/support/other_user.py). Tests that need it are skipped when not run as root.
"""

from __future__ import annotations

import json
import os
import pickle
import struct
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ataraxis_like import SharedMemoryArray
from ataraxis_like.errors import (
    InvalidArgumentError,
    SegmentExistsError,
    UntrustedPickleError,
    UntrustedSegmentError,
)
from ataraxis_like.shm._segment import segment_path
from ataraxis_like.shm._trust import CREATOR_UID_OFFSET
from ataraxis_like.shm.queue import ShmQueue

from ..support.other_user import OTHER_UID, needs_root, other_user, receive

pytestmark = pytest.mark.timeout(60)


class _RunsCode:
    """Unpickling this creates the file ``path``: the stand-in for an attacker's payload."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.touch, (self.path,))


def _hostile_queue(name: str, marker: Path) -> Callable[[Connection], None]:
    def body(connection: Connection) -> None:
        queue = ShmQueue(name, capacity_bytes=1 << 16)
        queue.put(b"data")
        queue.put(np.arange(3))
        queue.put(_RunsCode(marker))
        connection.send(("ready", os.getpid()))
        connection.recv()
        queue.close()

    return body


@needs_root
def test_another_users_queue_is_refused_and_its_pickles_never_run(
    shm_name: str, tmp_path: Path
) -> None:
    marker = tmp_path / "code ran"
    with other_user(_hostile_queue(shm_name, marker)) as (connection, pid):
        assert receive(connection) == ("ready", pid)
        with pytest.raises(UntrustedSegmentError, match=rf"'nobody' \(uid {OTHER_UID}\)"):
            ShmQueue.attach(shm_name)
        # The name is taken, and the error says by whom.
        for exist_ok in (False, True):
            with pytest.raises(SegmentExistsError, match=rf"'nobody' \(uid {OTHER_UID}\).*{pid}"):
                ShmQueue(shm_name, capacity_bytes=1 << 16, exist_ok=exist_ok)
        # Trusted for data, not for code: bytes and arrays arrive, the pickle is refused.
        queue = ShmQueue.attach(shm_name, trust="nobody")
        assert queue.get(timeout=5) == b"data"
        np.testing.assert_array_equal(queue.get(timeout=5), np.arange(3))
        with pytest.raises(UntrustedPickleError) as refused:
            queue.get(timeout=5)
        assert b"touch" in refused.value.raw[0]
        assert queue.empty()
        # A handle passed to another process keeps the policy it was made with.
        clone = pickle.loads(pickle.dumps(queue))
        assert clone.qsize() == 0
        queue.close()
        clone.close()
    assert not marker.exists(), "a pickle from another user was unpickled"


@needs_root
def test_pickles_of_a_trusted_user_run_only_with_allow_pickle(
    shm_name: str, tmp_path: Path
) -> None:
    marker = tmp_path / "code ran"
    with other_user(_hostile_queue(shm_name, marker)) as (connection, pid):
        assert receive(connection) == ("ready", pid)
        queue = ShmQueue.attach(shm_name, trust=[OTHER_UID], allow_pickle=True)
        assert queue.get_many(3, timeout=5)[0] == b"data"
        queue.close()
    assert marker.exists()


@needs_root
def test_another_users_array_is_refused(shm_name: str) -> None:
    def body(connection: Connection) -> None:
        array = SharedMemoryArray.create_array(shm_name, np.arange(4, dtype=np.int32))
        connection.send("ready")
        connection.recv()
        array.destroy()

    with other_user(body) as (connection, pid):
        assert receive(connection) == "ready"
        with pytest.raises(UntrustedSegmentError, match=rf"uid {OTHER_UID}"):
            SharedMemoryArray.attach(shm_name)
        with pytest.raises(SegmentExistsError, match=rf"uid {OTHER_UID}.*pid {pid}"):
            SharedMemoryArray.create_array(shm_name, np.zeros(4))
        array = SharedMemoryArray.attach(shm_name, trust=OTHER_UID)
        assert array.read_data((0, 4)).tolist() == [0, 1, 2, 3]
        # The state handed to other processes (as JSON by the HDF5 sink) keeps the policy.
        clone = SharedMemoryArray.__new__(SharedMemoryArray)
        clone.__setstate__(json.loads(json.dumps(array.__getstate__())))
        clone.connect()
        assert clone.read_data(3) == 3
        clone.disconnect()
        array.disconnect()


@needs_root
def test_another_user_cannot_attach_ours_and_is_told_whose_it_is(shm_name: str) -> None:
    def body(connection: Connection) -> None:
        try:
            ShmQueue.attach(shm_name)
        except UntrustedSegmentError as error:
            connection.send(str(error))
        else:
            connection.send("attached")
        connection.recv()

    with ShmQueue(shm_name, capacity_bytes=1 << 16), other_user(body) as (connection, _pid):
        message = receive(connection)
    assert "'root' (uid 0)" in message
    assert "cannot be opened" in message


def test_a_segment_others_may_write_is_refused(shm_name: str) -> None:
    with ShmQueue(shm_name, capacity_bytes=1 << 16):
        os.chmod(segment_path(shm_name), 0o666)
        with pytest.raises(UntrustedSegmentError, match="other than its owner"):
            ShmQueue.attach(shm_name)


def test_a_symbolic_link_is_never_followed(shm_name: str, tmp_path: Path) -> None:
    target = tmp_path / "not a segment"
    target.write_bytes(b"\x00" * 4096)
    segment_path(shm_name).symlink_to(target)
    with pytest.raises(UntrustedSegmentError, match="symbolic link"):
        ShmQueue.attach(shm_name)
    assert target.read_bytes() == b"\x00" * 4096


def test_the_creator_recorded_in_the_header_must_be_trusted(shm_name: str) -> None:
    with ShmQueue(shm_name, capacity_bytes=1 << 16) as queue:
        queue.put({"an": "object"})
        with open(segment_path(shm_name), "r+b") as segment:
            segment.seek(CREATOR_UID_OFFSET)
            segment.write(struct.pack("<I", OTHER_UID))
        with pytest.raises(UntrustedSegmentError, match=rf"records .*uid {OTHER_UID}.* creator"):
            ShmQueue.attach(shm_name)
        trusted = ShmQueue.attach(shm_name, trust=OTHER_UID)
        with pytest.raises(UntrustedPickleError):
            trusted.get(timeout=5)
        trusted.close()


@pytest.mark.parametrize(
    ("trust", "allow_pickle"),
    [("no such user 7f3a", False), (1.5, False), ([0, None], False), (-1, False), (0, "yes")],
)
def test_trust_arguments_are_checked(shm_name: str, trust: Any, allow_pickle: Any) -> None:
    with ShmQueue(shm_name, capacity_bytes=1 << 16), pytest.raises(InvalidArgumentError):
        ShmQueue.attach(shm_name, trust=trust, allow_pickle=allow_pickle)
