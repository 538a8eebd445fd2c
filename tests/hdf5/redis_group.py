"""One "host" of the multi-host lock test: run as a script inside its own namespaces.

python redis_group.py REPORT LOCK_URL PATH MARKER ROLE...

Every ROLE is ``writer:<id>:<batches>:<rows>`` (a lock-mode sink writing that many flushes of
that many rows) or ``reader:<seconds>`` (locked reads checking that every writer's rows are
whole batches). The group also writes MARKER into its /dev/shm and reports whether a marker of
the other group is visible there. Writes a JSON report to REPORT when every member is done.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import socket
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.hdf5 import lock_workers

BATCH_KEY = "rows"


def read_whole_batches(path: str, lock: str, seconds: float, rows: int, out: Any) -> None:
    """Locked reads for ``seconds``: count reads and rows of a writer that are not whole
    batches, contiguous from 0 (a partial batch would show here)."""
    from ataraxis_like.hdf5 import locked_file

    reads = broken = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with locked_file(path, "r", lock=lock, timeout=60) as handle:
            values = handle[BATCH_KEY][:] if BATCH_KEY in handle else np.empty(0, np.int64)
        for writer in np.unique(values // 1_000_000_000):
            mine = values[values // 1_000_000_000 == writer] % 1_000_000_000
            whole = len(mine) % rows == 0 and np.array_equal(mine, np.arange(len(mine)))
            broken += not whole
        reads += 1
        time.sleep(0.02)
    out.put({"reads": reads, "broken": broken})


def main() -> None:
    report, lock, path, marker, *roles = sys.argv[1:]
    shm = Path("/dev/shm")
    (shm / marker).write_text(socket.gethostname())
    others = sorted(p.name for p in shm.iterdir() if p.name.startswith("h5lock-test-"))
    context = mp.get_context("fork")
    out = context.Queue()
    processes = []
    ready = []
    for role in roles:
        kind, *fields = role.split(":")
        if kind == "writer":
            writer, batches, rows = (int(field) for field in fields)
            event = context.Event()
            ready.append(event)
            processes.append(
                context.Process(
                    target=lock_workers.batch_writer,
                    args=(path, lock, writer, batches, rows, event),
                )
            )
        else:
            seconds, rows = float(fields[0]), int(fields[1])
            processes.append(
                context.Process(target=read_whole_batches, args=(path, lock, seconds, rows, out))
            )
    for process in processes:
        process.start()
    readers = [out.get(timeout=600) for role in roles if role.startswith("reader")]
    for process in processes:
        process.join(600)
    result = {
        "host": socket.gethostname(),
        "shm_markers": others,
        "exitcodes": [process.exitcode for process in processes],
        "readers": readers,
    }
    Path(report).write_text(json.dumps(result))


if __name__ == "__main__":
    main()
