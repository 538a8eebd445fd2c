"""The two ways of calling the lock (compiled accelerator, ctypes fallback) behave the same."""

from __future__ import annotations

import ctypes
import errno
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from ataraxis_like import SharedMemoryArray
from ataraxis_like.errors import QueueFullError
from ataraxis_like.shm import _posix
from ataraxis_like.shm._header import MUTEX_OFFSET
from ataraxis_like.shm.queue import ShmQueue

pytestmark = pytest.mark.timeout(120)

TESTS = Path(__file__).resolve().parent


def _in_other_thread(function: object, argument: object) -> int:
    out: list[int] = []
    thread = threading.Thread(target=lambda: out.append(function(argument)))  # type: ignore[operator]
    thread.start()
    thread.join(10)
    return out[0]


@pytest.mark.skipif(not _posix.ACCELERATED, reason="the accelerator was not built here")
def test_accelerator_and_ctypes_return_the_same_errnos(shm_name: str) -> None:
    with SharedMemoryArray.create_array(shm_name, np.zeros(1, dtype=np.int64)) as handle:
        address = handle._require().base_address + MUTEX_OFFSET
        fast = (_posix.trylock, _posix.unlock, address)
        slow = (_posix._ctypes_trylock, _posix._ctypes_unlock, ctypes.c_void_p(address))
        for (trylock, unlock, pointer), (other_trylock, other_unlock, other_pointer) in (
            (fast, slow),
            (slow, fast),
        ):
            assert trylock(pointer) == 0
            assert _in_other_thread(other_trylock, other_pointer) == errno.EBUSY
            assert _in_other_thread(other_unlock, other_pointer) == errno.EPERM
            assert unlock(pointer) == 0
            assert other_trylock(other_pointer) == 0
            assert other_unlock(other_pointer) == 0
    with pytest.raises(ValueError, match="must not be 0"):
        _posix.trylock(0)


def test_ctypes_fallback_passes_the_process_tests() -> None:
    """Without the accelerator (as on a machine with no compiler) the lock still survives
    killed holders and loses no increment."""
    environment = dict(os.environ, ATARAXIS_LIKE_NO_EXTENSION="1")
    probe = subprocess.run(
        [sys.executable, "-c", "from ataraxis_like.shm import _posix; print(_posix.ACCELERATED)"],
        capture_output=True, text=True, env=environment, timeout=60, check=False,
    )  # fmt: skip
    assert probe.stdout.strip() == "False", probe.stderr
    result = subprocess.run(
        [
            sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
            str(TESTS / "test_array_processes.py"), str(TESTS / "test_queue.py"),
            # Not the consumer kills: see docs/queue.md on the fallback's window after acquiring.
            "-k", "(increments or killed or recovers or kill or threads) and not inside_get",
        ],
        capture_output=True, text=True, env=environment, timeout=110, check=False,
        cwd=TESTS.parent.parent,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert " passed" in result.stdout


def _ring_state(queue: ShmQueue) -> tuple[bytes, list[int]]:
    ring = queue.ring()
    return bytes(ring._buffer), list(ring._control)


@pytest.mark.skipif(not _posix.ACCELERATED, reason="the accelerator was not built here")
def test_compiled_put_writes_the_same_bytes_as_the_python_put(shm_name: str) -> None:
    """Records of every kind and size, laps and a full ring: both puts leave identical rings."""
    rng = np.random.default_rng(7)
    items: list[object] = [b"", b"a" * 3, bytearray(b"b" * 40), np.arange(7, dtype=np.int16)]
    items += [rng.bytes(int(size)) for size in rng.integers(0, 900, 60)]
    items += [{"object": 1}, memoryview(b"view" * 9), np.zeros((3, 5), dtype=">f8")]
    with (
        ShmQueue(shm_name + "c", capacity_bytes=4096) as compiled,
        ShmQueue(shm_name + "p", capacity_bytes=4096) as python,
    ):
        assert compiled.ring()._writer is not None
        python.ring()._writer = None
        for index, item in enumerate(items):
            outcomes = []
            for queue in (compiled, python):
                try:
                    queue.put(item, timeout=0)
                    outcomes.append("put")
                except QueueFullError:
                    outcomes.append("full")
            assert outcomes[0] == outcomes[1], (index, outcomes)
            assert _ring_state(compiled) == _ring_state(python), index
            if outcomes[0] == "full" or index % 3 == 0:  # keep both rings cycling through laps
                got = [queue.get_many(4, timeout=0) for queue in (compiled, python)]
                assert len(got[0]) == len(got[1]) > 0
                assert _ring_state(compiled) == _ring_state(python), index
        assert compiled.stats() == python.stats()
        assert compiled.stats()["put_total"] > 40


@pytest.mark.skipif(not _posix.ACCELERATED, reason="the accelerator was not built here")
def test_compiled_put_waits_for_a_held_lock(shm_name: str) -> None:
    """A put that finds the lock busy waits for it, then writes under it (its second path)."""
    with ShmQueue(shm_name, capacity_bytes=1 << 16) as queue:
        ring = queue.ring()
        held, release = threading.Event(), threading.Event()

        def hold() -> None:
            ring._lock.acquire()
            held.set()
            release.wait(30)
            ring._lock.release()

        holder = threading.Thread(target=hold)
        holder.start()
        assert held.wait(30)
        putter = threading.Thread(target=queue.put, args=(b"waited",))
        putter.start()
        putter.join(0.2)
        assert putter.is_alive(), "a put went through a lock held by another thread"
        assert queue.qsize() == 0
        release.set()
        putter.join(30)
        holder.join(30)
        assert not putter.is_alive()
        assert queue.get(timeout=5) == b"waited"


@pytest.mark.skipif(not _posix.ACCELERATED, reason="the accelerator was not built here")
def test_blocking_acquisition_clears_the_word_only_when_it_takes_the_lock(shm_name: str) -> None:
    """lock_until zeroes the intent word in the call that takes the lock, never otherwise."""
    with SharedMemoryArray.create_array(shm_name, np.zeros(1, dtype=np.int64)) as handle:
        address = handle._require().base_address + MUTEX_OFFSET
        word = ctypes.c_uint64(7)
        assert _posix.trylock(address) == 0
        deadline = time.monotonic() + 0.05
        busy = _in_other_thread(
            lambda a: _posix.lock_until(a, deadline, ctypes.addressof(word)), address
        )
        assert busy == errno.ETIMEDOUT
        assert word.value == 7, "a wait that timed out cleared the word"
        assert _posix.unlock(address) == 0
        taken = _posix.lock_until(address, time.monotonic() + 5, ctypes.addressof(word))
        assert taken == 0
        assert word.value == 0
        assert _posix.unlock(address) == 0
        word.value = 9
        assert _posix.mutex_lock_until(address, time.monotonic() + 5) == 0  # no word given
        assert word.value == 9
        assert _posix.unlock(address) == 0


@pytest.mark.skipif(not _posix.ACCELERATED, reason="the accelerator was not built here")
def test_compiled_put_never_raises_with_the_lock_held(shm_name: str) -> None:
    with ShmQueue(shm_name, capacity_bytes=1 << 16) as queue:
        ring = queue.ring()
        for locked in (False, True):
            if locked:
                assert _posix.trylock(ring._pointer) == 0
            with pytest.raises(TypeError):
                ring._writer.put(1, b"", object(), locked)  # no buffer: refused

            def take_and_give_back(pointer: object) -> int:
                return _posix.trylock(pointer) or _posix.unlock(pointer)

            assert _in_other_thread(take_and_give_back, ring._pointer) == 0, locked
