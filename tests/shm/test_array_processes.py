"""SharedMemoryArray across real processes: spawn, fork and unrelated interpreters."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

from ataraxis_like import LockOwnerDiedWarning, SharedMemoryArray
from ataraxis_like.shm._names import segment_path

from ..support.processes import run_together
from . import workers

pytestmark = pytest.mark.timeout(60)


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_child_write_is_seen_by_parent_and_by_unrelated_process(
    shm_name: str, start_method: str
) -> None:
    context = mp.get_context(start_method)
    with SharedMemoryArray.create_array(shm_name, np.zeros(4, dtype=np.int64)) as handle:
        child = context.Process(target=workers.write_value, args=(handle, 2, 42))
        child.start()
        child.join(30)
        assert child.exitcode == 0
        assert handle.read_data(2) == 42
        result = run_python(f"""
            from ataraxis_like import SharedMemoryArray
            other = SharedMemoryArray.attach({shm_name!r})
            print(other.read_data((0,), convert_output=True), other.shape, other.datatype)
            other.write_data(3, 7)
            other.disconnect()
        """)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == "[0, 0, 42, 0] (4,) int64"
        assert result.stderr == ""
        assert handle.read_data(3) == 7
        assert segment_path(shm_name).exists()


@pytest.mark.parametrize("processes", [2, 4])
def test_atomic_increments_lose_no_update(shm_name: str, start_method: str, processes: int) -> None:
    context = mp.get_context(start_method)
    count = 2000
    with SharedMemoryArray.create_array(shm_name, np.zeros(1, dtype=np.int64)) as handle:
        start = context.Event()
        children = [
            context.Process(target=workers.increment, args=(handle, count, start))
            for _ in range(processes)
        ]
        run_together(children, start, 50)
        assert handle.read_data(0) == processes * count


def test_killed_holder_does_not_block_survivors(shm_name: str, start_method: str) -> None:
    context = mp.get_context(start_method)
    with SharedMemoryArray.create_array(shm_name, np.zeros(2, dtype=np.int64)) as handle:
        holding, ready = context.Event(), context.Event()
        results = context.Queue()
        holder = context.Process(target=workers.hold_lock_forever, args=(handle, holding))
        holder.start()
        assert holding.wait(30)
        waiter = context.Process(target=workers.wait_for_lock, args=(handle, ready, results))
        waiter.start()
        assert ready.wait(30)
        killed_at = time.monotonic()
        os.kill(holder.pid, signal.SIGKILL)
        holder.join(10)
        acquired_at, holder_died, warning_names = results.get(timeout=30)
        waiter.join(10)
        assert waiter.exitcode == 0
        # The waiter may have reached its blocking call only after the kill; either way it
        # must be handed the lock promptly and be told the holder died mid-update.
        assert acquired_at - killed_at < 1.0
        assert holder_died is True
        assert warning_names == ["LockOwnerDiedWarning"]
        assert handle.read_data((0,), convert_output=True) == [-1, 99]
        assert handle.lock_recoveries == 1
        assert handle.holder_died is False


def test_parent_recovers_lock_of_killed_child(shm_name: str) -> None:
    context = mp.get_context("fork")
    with SharedMemoryArray.create_array(shm_name, np.zeros(2, dtype=np.int64)) as handle:
        holding = context.Event()
        holder = context.Process(target=workers.hold_lock_forever, args=(handle, holding))
        holder.start()
        assert holding.wait(30)
        os.kill(holder.pid, signal.SIGKILL)
        holder.join(10)
        with pytest.warns(LockOwnerDiedWarning, match="half-updated"):
            value = handle.read_data(0)
        assert value == -1
        assert handle.holder_died is True
        assert handle.read_data(0) == -1
        assert handle.holder_died is False


def test_connected_child_exit_leaves_segment_and_no_warning(shm_name: str, tmp_path: Path) -> None:
    script = f"""
        import multiprocessing as mp
        import numpy as np
        from ataraxis_like import SharedMemoryArray

        def child(handle):
            handle.connect()
            handle.write_data(0, 5)

        if __name__ == "__main__":
            handle = SharedMemoryArray.create_array({shm_name!r}, np.zeros(3))
            for method in ("spawn", "fork"):
                process = mp.get_context(method).Process(target=child, args=(handle,))
                process.start()
                process.join()
                assert process.exitcode == 0
            print(handle.read_data(0), flush=True)
            import os
            os._exit(0)  # leave the segment behind on purpose: the parent test checks it
    """
    script_path = tmp_path / "creator.py"
    script_path.write_text(textwrap.dedent(script))
    result = subprocess.run(
        [sys.executable, str(script_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "5.0"
    assert result.stderr == ""
    assert segment_path(shm_name).exists()


def test_attach_only_process_never_unlinks(shm_name: str) -> None:
    with SharedMemoryArray.create_array(shm_name, np.arange(3)) as _handle:
        result = run_python(f"""
            from ataraxis_like import SharedMemoryArray
            SharedMemoryArray.attach({shm_name!r})
        """)
        assert result.returncode == 0
        assert result.stderr == ""
        assert segment_path(shm_name).exists()


def test_creator_exit_without_destroy_removes_segment(shm_name: str) -> None:
    result = run_python(f"""
        from ataraxis_like import SharedMemoryArray
        SharedMemoryArray.create_array({shm_name!r}, [1, 2])
    """)
    assert result.returncode == 0, result.stderr
    assert not segment_path(shm_name).exists()


def test_threads_share_the_lock(shm_name: str) -> None:
    import threading

    with SharedMemoryArray.create_array(shm_name, np.zeros(1, dtype=np.int64)) as handle:
        barrier = threading.Barrier(4)

        def work() -> None:
            barrier.wait()
            for _ in range(2000):
                with handle.array() as values:
                    current = values[0]
                    values[0] = current + 1

        threads = [threading.Thread(target=work) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert handle.read_data(0) == 8000


def test_lock_timeout_while_other_process_holds(shm_name: str) -> None:
    from ataraxis_like.errors import LockTimeoutError

    context = mp.get_context("fork")
    with SharedMemoryArray.create_array(shm_name, np.zeros(2, dtype=np.int64)) as handle:
        holding = context.Event()
        holder = context.Process(target=workers.hold_lock_forever, args=(handle, holding))
        holder.start()
        try:
            assert holding.wait(30)
            with pytest.raises(TimeoutError, match=r"not acquired within 0\.2 s") as caught:
                handle.read_data(0, timeout=0.2)
            assert isinstance(caught.value, LockTimeoutError)
        finally:
            os.kill(holder.pid, signal.SIGKILL)
            holder.join(10)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", LockOwnerDiedWarning)
            assert handle.read_data(0) == -1
