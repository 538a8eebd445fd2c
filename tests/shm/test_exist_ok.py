"""create_array(exist_ok=True) and destroy() as ataraxis-data-structures 3.1 code uses them.

exist_ok=True replaces what a user means to replace (a leftover of a dead process, or the array
this process made in an earlier run of a notebook cell) and refuses, naming the pid, where
replacing would cut a live process off. destroy() is the creator's act, connected or not.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from ataraxis_like import SharedMemoryArray
from ataraxis_like.errors import SegmentExistsError
from ataraxis_like.shm._segment import segment_path

from . import workers

pytestmark = pytest.mark.timeout(90)


def test_rerun_in_the_same_process_replaces_its_own_array(shm_name: str) -> None:
    first = SharedMemoryArray.create_array(shm_name, [1, 2, 3], exist_ok=True)
    first.write_data(0, 10)
    second = SharedMemoryArray.create_array(shm_name, [7, 8], exist_ok=True)
    assert second.read_data((0,), convert_output=True) == [7, 8]
    assert SharedMemoryArray.attach(shm_name).shape == (2,)
    assert first.read_data((0,), convert_output=True) == [10, 2, 3]  # its own, unnamed copy
    first.destroy()  # the name now holds the second array: left alone
    assert SharedMemoryArray.attach(shm_name).read_data(1) == 8
    second.destroy()
    assert not segment_path(shm_name).exists()


def test_the_replacement_is_removed_at_exit(shm_name: str) -> None:
    """The earlier handle's destroy() must not make the process forget the replacement."""
    script = (
        "from ataraxis_like import SharedMemoryArray as S\n"
        f"a = S.create_array({shm_name!r}, [1], exist_ok=True)\n"
        f"b = S.create_array({shm_name!r}, [2], exist_ok=True)\n"
        "a.destroy()\n"
        f"assert S.attach({shm_name!r}).read_data(0) == 2\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)
    assert not segment_path(shm_name).exists()


@contextmanager
def holding(context: Any, target: Any, name: str) -> Iterator[Any]:
    """Run ``target(name, ready, release)`` in a child until the block ends; yield the child
    once it says it holds ``name``. It must then end cleanly."""
    ready, release = context.Event(), context.Event()
    child = context.Process(target=target, args=(name, ready, release))
    child.start()
    try:
        assert ready.wait(30)
        yield child
    finally:
        release.set()
        child.join(30)
    assert child.exitcode == 0


def test_refused_while_another_process_maps_it(shm_name: str, start_method: str) -> None:
    original = SharedMemoryArray.create_array(shm_name, [1, 2])
    with holding(mp.get_context(start_method), workers.map_and_wait, shm_name) as child:
        with pytest.raises(SegmentExistsError, match=f"mapped by live pid\\(s\\) {child.pid} "):
            SharedMemoryArray.create_array(shm_name, [0, 0], exist_ok=True)
        assert SharedMemoryArray.attach(shm_name).read_data(1) == 2  # untouched
    replacement = SharedMemoryArray.create_array(shm_name, [0, 0], exist_ok=True)
    assert replacement.read_data(1) == 0
    original.destroy()
    replacement.destroy()
    assert not segment_path(shm_name).exists()


def test_refused_when_another_live_process_made_it(shm_name: str) -> None:
    context = mp.get_context("spawn")
    with (
        holding(context, workers.create_and_wait, shm_name) as creator,
        pytest.raises(SegmentExistsError) as caught,
    ):
        SharedMemoryArray.create_array(shm_name, [0], exist_ok=True)
    assert f"made by live pid {creator.pid};" in str(caught.value)
    assert not segment_path(shm_name).exists()


def test_dead_creators_leftover_is_replaced_unless_still_mapped(
    shm_name: str, start_method: str
) -> None:
    """The orphan maps the array before its creator dies: any process's next call would remove a
    dead creator's leftover that nobody maps (docs/shared-memory.md, Lifetime)."""
    context = mp.get_context(start_method)
    created, release = context.Event(), context.Event()
    creator = context.Process(target=workers.create_and_wait, args=(shm_name, created, release))
    creator.start()
    assert created.wait(30)
    with holding(context, workers.map_and_wait, shm_name) as orphan:
        os.kill(creator.pid, signal.SIGKILL)
        creator.join(30)
        with pytest.raises(SegmentExistsError) as caught:
            SharedMemoryArray.create_array(shm_name, [0], exist_ok=True)
        assert f"mapped by live pid(s) {orphan.pid} (" in str(caught.value)
    with SharedMemoryArray.create_array(shm_name, [4], exist_ok=True) as handle:
        assert handle.read_data(0) == 4


def test_destroy_is_the_creators_act_connected_or_not(shm_name: str) -> None:
    handle = SharedMemoryArray.create_array(shm_name, [1, 2])
    context = mp.get_context("spawn")
    results = context.Queue()
    child = context.Process(target=workers.destroy_from_here, args=(handle, results))
    child.start()
    assert results.get(timeout=30) == "CreatorOnlyError"
    child.join(30)
    assert segment_path(shm_name).exists()
    handle.disconnect()
    handle.destroy()
    assert not segment_path(shm_name).exists()
    handle.destroy()  # already gone: nothing to do
    assert not handle.is_connected


def test_an_array_never_replaces_a_queue_of_the_same_name(shm_name: str) -> None:
    from ataraxis_like import ShmQueue

    queue = ShmQueue(shm_name, 4096)
    try:
        queue.put(b"kept")
        with pytest.raises(SegmentExistsError, match="cannot replace the queue"):
            SharedMemoryArray.create_array(shm_name, [1], exist_ok=True)
        assert queue.get(timeout=5) == b"kept"
    finally:
        queue.close()
