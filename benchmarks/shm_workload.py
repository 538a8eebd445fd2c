"""SharedMemoryArray workload, run unchanged against our library and the reference library.

Usage: python shm_workload.py ours|reference. Prints one JSON object of figures. Both libraries
share the API used here (create_array, connect, ``a[i]``, ``a[i] = v``, ``array()``).
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import statistics
import sys
import time
from typing import Any

import numpy as np

if sys.argv[1] == "ours":
    from ataraxis_like import SharedMemoryArray
else:
    from ataraxis_data_structures import SharedMemoryArray  # type: ignore[no-redef]

SLICE_WRITES = 1_000
INCREMENTS_PER_PROCESS = 300_000


def create(name: str, prototype: np.ndarray) -> Any:
    if sys.argv[1] == "ours":
        handle = SharedMemoryArray.create_array(name, prototype, exist_ok=True)
    else:
        handle = SharedMemoryArray.create_array(name, prototype, exists_ok=True)
    handle.connect()  # the reference library needs this even in the creator; ours ignores it
    return handle


def increment(handle: Any, count: int, start: Any) -> None:
    handle.connect()
    start.wait()
    for _ in range(count):
        with handle.array() as values:
            values[0] += 1
    handle.disconnect()


def increment_raw(handle: Any, count: int, start: Any, lock: Any) -> None:
    """The primitives alone, no context manager: our lock's trylock/unlock, or ``lock``."""
    handle.connect()
    values = handle._array
    start.wait()
    if lock is None:
        from ataraxis_like.shm import _posix

        pointer, trylock, unlock = handle._pointer, _posix.trylock, _posix.unlock
        for _ in range(count):
            while trylock(pointer):
                pass
            values[0] += 1
            unlock(pointer)
    else:
        for _ in range(count):
            with lock:
                values[0] += 1
    handle.disconnect()


def two_process_increments(context: Any, tag: str, target: Any, *extra: Any) -> float:
    counter = create(tag, np.zeros(1, dtype=np.int64))
    start = context.Event()
    children = [
        context.Process(target=target, args=(counter, INCREMENTS_PER_PROCESS, start, *extra))
        for _ in range(2)
    ]
    for child in children:
        child.start()
    time.sleep(2.0)  # let both children finish importing; only the counted loop is timed
    began = time.perf_counter()
    start.set()
    for child in children:
        child.join()
    elapsed = time.perf_counter() - began
    counter.connect()
    total = int(counter[0])
    assert total == 2 * INCREMENTS_PER_PROCESS, f"lost increments: {total}"
    counter.destroy()
    return total / elapsed


def hold_forever(handle: Any, holding: Any) -> None:
    handle.connect()
    with handle.array():
        holding.set()
        time.sleep(3600)


def wait_for_lock(handle: Any, ready: Any, out: Any) -> None:
    handle.connect()
    ready.set()
    if sys.argv[1] == "ours":
        import warnings

        warnings.simplefilter("ignore")
        with handle.array():
            out.put(time.monotonic())
    else:  # the reference's array() has no timeout: ask its lock directly, for 2 s
        out.put(time.monotonic() if handle._lock.acquire(timeout=2.0) else float("inf"))


def handover_after_kill(context: Any, tag: str) -> float:
    """Seconds from SIGKILL of a lock holder until a blocked waiter gets the lock."""
    import signal

    handle = create(tag + "_k", np.zeros(1, dtype=np.int64))
    holding, ready, out = context.Event(), context.Event(), context.Queue()
    holder = context.Process(target=hold_forever, args=(handle, holding))
    holder.start()
    holding.wait()
    waiter = context.Process(target=wait_for_lock, args=(handle, ready, out))
    waiter.start()
    ready.wait()
    time.sleep(0.2)  # let the waiter block inside acquire
    killed = time.monotonic()
    os.kill(holder.pid, signal.SIGKILL)
    acquired = out.get()
    waiter.join()
    holder.join()
    handle.destroy()
    return acquired - killed


ELEMENT_ROUNDS = 7
ELEMENT_BURST = 50_000


def element_cases(tag: str) -> tuple[dict[str, Any], list[Any]]:
    """One loop per figure, ``count`` element operations each. The limits: a plain numpy array
    under a multiprocessing.Lock (``with lock: a[i] = 7``), the issue's measure of the machine."""
    floats = create(tag + "_e", np.zeros(64, dtype=np.float64))
    flags = create(tag + "_b", np.zeros(64, dtype=bool))
    plain, lock = np.zeros(64, dtype=np.float64), mp.get_context("fork").Lock()
    single, wide = np.float32(2.5), np.int64(3)

    def int_write(count: int) -> None:
        for _ in range(count):
            floats[5] = 7

    def float_write(count: int) -> None:
        for _ in range(count):
            floats[5] = 1.5

    def float32_write(count: int) -> None:
        for _ in range(count):
            floats[5] = single

    def int64_write(count: int) -> None:
        for _ in range(count):
            floats[5] = wide

    def bool_write(count: int) -> None:
        for _ in range(count):
            flags[5] = True

    def read(count: int) -> None:
        for _ in range(count):
            floats[5]

    def limit_write(count: int) -> None:
        for _ in range(count):
            with lock:
                plain[5] = 7

    def limit_read(count: int) -> None:
        for _ in range(count):
            with lock:
                plain[5]

    cases = {
        "element_int_write_ops": int_write, "element_write_ops": float_write,
        "element_float32_write_ops": float32_write, "element_int64_write_ops": int64_write,
        "element_bool_write_ops": bool_write, "element_read_ops": read,
        "limit_write_ops": limit_write, "limit_read_ops": limit_read,
    }  # fmt: skip
    return cases, [floats, flags]


def element_figures(tag: str) -> dict[str, float]:
    """Operations per CPU second of each case, median of rounds that take turns, so a change in
    the machine's load during the run falls on every case alike."""
    cases, handles = element_cases(tag)
    rates: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(ELEMENT_ROUNDS):
        for name, loop in cases.items():
            began = time.process_time()
            loop(ELEMENT_BURST)
            rates[name].append(ELEMENT_BURST / (time.process_time() - began))
    for handle in handles:
        handle.destroy()
    return {name: statistics.median(values) for name, values in rates.items()}


def main() -> None:
    tag = f"bench_{os.getpid()}"
    figures = element_figures(tag)

    chunk = np.random.default_rng(0).random(2**17)  # 1 MiB of float64
    block = create(tag + "_s", np.zeros(2**17, dtype=np.float64))
    began = time.perf_counter()
    for _ in range(SLICE_WRITES):
        block[0 : chunk.size] = chunk
    figures["slice_write_gbps"] = SLICE_WRITES * chunk.nbytes / (time.perf_counter() - began) / 1e9
    block.destroy()

    context = mp.get_context("fork")  # the reference creates its lock in the default context
    figures["two_process_increments"] = two_process_increments(context, tag + "_c", increment)
    if sys.argv[1] == "ours":  # the primitives' own limit on this machine, in the same run
        figures["raw_lock_increments"] = two_process_increments(
            context, tag + "_r", increment_raw, None
        )
        figures["mp_lock_increments"] = two_process_increments(
            context, tag + "_m", increment_raw, context.Lock()
        )
    figures["handover_after_kill_s"] = handover_after_kill(context, tag)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
