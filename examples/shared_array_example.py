"""A shared array across processes: spawned workers, an unrelated process, and a killed holder.

Run: python examples/shared_array_example.py
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import subprocess
import sys
import warnings

import numpy as np

from ataraxis_like import LockOwnerDiedWarning, SharedMemoryArray


def count(state: SharedMemoryArray, times: int) -> None:
    state.connect()  # the handle arrived pickled: map the segment in this process
    for _ in range(times):
        with state.array() as values:  # several steps under one lock: no update is lost
            values[0] += 1
    state.disconnect()


def hold_and_wait(state: SharedMemoryArray, holding: mp.synchronize.Event) -> None:
    state.connect()
    with state.array() as values:
        values[1] = -1  # a half-done update...
        holding.set()
        signal.pause()  # ...that never finishes: the parent kills us here


def main() -> None:
    context = mp.get_context("spawn")
    with SharedMemoryArray.create_array("example_state", np.zeros(2, dtype=np.int64)) as state:
        workers = [context.Process(target=count, args=(state, 5000)) for _ in range(4)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        print(f"4 processes x 5000 locked increments = {state.read_data(0)}")

        reader = subprocess.run(
            [sys.executable, "-c", "from ataraxis_like import SharedMemoryArray as S; "
             "a = S.attach('example_state'); print(a.shape, a.datatype, a.read_data(0))"],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        print(f"an unrelated process attached by name and saw: {reader.stdout.strip()}")

        holding = context.Event()
        holder = context.Process(target=hold_and_wait, args=(state, holding))
        holder.start()
        holding.wait()
        os.kill(holder.pid, signal.SIGKILL)
        holder.join()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            value = state.read_data(1)
        told = any(issubclass(w.category, LockOwnerDiedWarning) for w in caught)
        print(f"after killing a lock holder: read {value}, told it died: {told}")


if __name__ == "__main__":
    main()
