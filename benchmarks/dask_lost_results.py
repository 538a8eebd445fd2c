"""How often a task's good result comes back as an error when a worker dies beside it.

python benchmarks/dask_lost_results.py [--kills N]

Each round submits 40 quick tasks to a LocalCluster of 2 workers (2 threads each); task 20
kills its worker 2 ms after it starts, once, so the results that worker still held are lost
while the caller may be receiving them. "executor face" submits through
``client.get_executor()`` and reads ``concurrent.futures`` results, as ``Experiment.run`` did
before; "client" submits with ``client.submit`` and reads ``future.result()``, as it does now.
One cluster per face; its check that closes a worker not back 15 s after a death is put off
(``lost-worker-timeout``): with a kill every second or two it fires while a worker is restarting
and leaves the cluster one worker short.
"""

from __future__ import annotations

import argparse
import collections
import logging
import os
import signal
import tempfile
import time
from pathlib import Path

import dask
import distributed

TASKS, KILLER = 40, 20


def task(number: int, gate: str | None) -> int:
    """``number``; the killer first marks ``gate`` and kills its own worker."""
    if gate is not None and not os.path.exists(gate):
        Path(gate).touch()
        time.sleep(0.002)
        os.kill(os.getpid(), signal.SIGKILL)
    return number


def rounds(face: str, kills: int, folder: Path) -> collections.Counter[str]:
    """Tally of right results, wrong results and error types over ``kills`` rounds."""
    tally: collections.Counter[str] = collections.Counter()
    with dask.config.set({"distributed.deploy.lost-worker-timeout": "1h"}), \
            distributed.LocalCluster(n_workers=2, threads_per_worker=2, dashboard_address=":0",
                                     silence_logs=logging.CRITICAL) as cluster, \
            distributed.Client(cluster) as client:  # fmt: skip
        for kill in range(kills):
            client.wait_for_workers(2, timeout=120)
            gate = str(folder / f"{face}-{kill}")
            submit = client.get_executor(pure=False).submit if face == "executor face" else (
                lambda *call: client.submit(*call, pure=False))  # fmt: skip
            futures = [submit(task, n, gate if n == KILLER else None) for n in range(TASKS)]
            for number, future in enumerate(futures):
                try:
                    tally["right" if future.result(timeout=120) == number else "WRONG"] += 1
                except Exception as error:
                    tally[type(error).__name__] += 1
    return tally


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=96)
    arguments = parser.parse_args()
    logging.getLogger("distributed").setLevel(logging.CRITICAL)
    with tempfile.TemporaryDirectory() as folder:
        for face in ("executor face", "client"):
            tally = rounds(face, arguments.kills, Path(folder))
            wrong = sum(count for name, count in tally.items() if name != "right")
            print(f"{face:14} {arguments.kills} kills, {TASKS * arguments.kills} tasks: "
                  f"{wrong} not returned right {dict(tally)}", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
