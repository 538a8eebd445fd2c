"""Log archive workload, run under our interpreter and the reference library's.

Usage: python archive_workload.py ours|reference small|large|reader|memory|memory_tiny (the
memory cases are ours only). Prints one JSON
object of figures. Each side builds its own input in a fresh directory under /tmp: ours are the
logger's batch files (written with format.py, as the logger writes them), the reference's are
its one-file-per-entry ``SSS_TTTTTTTTTTTTTTTTTTTT.npy`` files holding [source][timestamp][payload].
Payload bytes are drawn uniformly from 0-15, so they deflate to about 58%.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SMALL = (10_000, 64, 1_000)  # entries, bytes each, entries per batch file
LARGE = (1024, 1 << 20, 16)  # 1 GiB of 1 MiB entries in 16 MiB batch files
READER = (1_000_000, 64, 65_536)
MEMORY = (2048, 1 << 20, 16)  # 2 GiB of 1 MiB entries
MEMORY_TINY = (2**31 // 88, 64, 65_536)  # 2 GiB of batch files holding 64 B entries
ONSET = 1_700_000_000_000_000
RANDOM_READS = 100_000


def blocks(size: int) -> list[bytes]:
    rng = np.random.default_rng(0)
    return [rng.integers(0, 16, size, dtype=np.uint8).tobytes() for _ in range(16)]


def write_ours(directory: Path, count: int, size: int, per_batch: int) -> None:
    from ataraxis_like.logs.format import INDEX_DTYPE, batch_name, batch_parts, write_atomically

    data = blocks(size)
    directory.mkdir(parents=True, exist_ok=True)
    for sequence, first in enumerate(range(0, count, per_batch)):
        numbers = np.arange(first, min(count, first + per_batch))
        index = np.zeros(numbers.size, dtype=INDEX_DTYPE)
        index["timestamp"] = numbers * 100
        index["entry_id"] = numbers
        index["length"] = size
        index["source_id"] = 1
        payloads = [data[n % 16] for n in numbers.tolist()]
        parts = batch_parts(ONSET, 7, sequence, index, payloads)
        write_atomically(directory, batch_name(7, sequence), parts, durable=False)


def write_reference(directory: Path, count: int, size: int) -> None:
    data = blocks(size)
    directory.mkdir(parents=True, exist_ok=True)
    for number in range(count):
        stamp = number * 100 + 1
        entry = bytes([1]) + np.uint64(stamp).tobytes() + data[number % 16]
        np.save(directory / f"001_{stamp:020d}.npy", np.frombuffer(entry, dtype=np.uint8))


def compress_ours_in_child(directory: Path, compress: bool) -> dict[str, float]:
    """Our compression in a fresh process: its time and its peak resident memory."""
    script = (  # ru_maxrss would carry over the parent's peak: reset VmHWM instead
        "import json, sys, time\n"
        "from ataraxis_like.logs import compress_npy_logs\n"
        "open('/proc/self/clear_refs', 'w').write('5')\n"
        "began = time.perf_counter()\n"
        "compress_npy_logs(sys.argv[1], compress=sys.argv[2] == '1')\n"
        "seconds = time.perf_counter() - began\n"
        "status = dict(line.split(':', 1) for line in open('/proc/self/status'))\n"
        "peak = int(status['VmHWM'].split()[0]) / 1024\n"
        "print(json.dumps({'seconds': seconds, 'peak_mb': peak}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(directory), "1" if compress else "0"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    figures = dict(json.loads(done.stdout))
    archive = directory / "1_log.npz"
    figures["archive_mb"] = archive.stat().st_size / 1e6
    archive.unlink()
    return figures


def ours(case: str, work: Path) -> dict[str, float]:
    from ataraxis_like.logs import LogArchiveReader, compress_npy_logs

    figures: dict[str, float] = {}
    if case in ("small", "large", "memory", "memory_tiny"):
        count, size, per_batch = {"small": SMALL, "large": LARGE, "memory": MEMORY,
                                  "memory_tiny": MEMORY_TINY}[case]  # fmt: skip
        write_ours(work, count, size, per_batch)
        modes = [False] if case.startswith("memory") else [False, True]
        for compress in modes:
            name = "deflate" if compress else "store"
            if case == "small":
                began = time.perf_counter()
                compress_npy_logs(work, compress=compress)
                figures[f"{name}_s"] = time.perf_counter() - began
                (work / "1_log.npz").unlink()
            else:
                child = compress_ours_in_child(work, compress)
                figures[f"{name}_s"] = child["seconds"]
                figures[f"{name}_peak_mb"] = child["peak_mb"]
                figures[f"{name}_archive_mb"] = child["archive_mb"]
        return figures
    count, size, per_batch = READER
    write_ours(work, count, size, per_batch)
    for compress in (False, True):
        name = "deflate" if compress else "store"
        path = compress_npy_logs(work, compress=compress)[1]
        reader = LogArchiveReader(path)
        began = time.perf_counter()
        seen = 0
        for _stamp, payload in reader.iter_messages():
            seen += payload.size
        figures[f"{name}_iterate_per_s"] = len(reader) / (time.perf_counter() - began)
        assert seen == count * size
        reader[0]  # a deflated archive's payload is decompressed on this first access
        picks = [random.randrange(len(reader)) for _ in range(RANDOM_READS)]
        began = time.perf_counter()
        for index in picks:
            reader[index]
        figures[f"{name}_random_us"] = (time.perf_counter() - began) / RANDOM_READS * 1e6
        del reader
        path.unlink()
    return figures


def reference(case: str, work: Path) -> dict[str, float]:
    from ataraxis_data_structures import assemble_log_archives

    count, size, _per_batch = {"small": SMALL, "large": LARGE, "reader": SMALL}[case]
    write_reference(work, count, size)
    began = time.perf_counter()
    assemble_log_archives(work, remove_sources=False, verbose=False, verify_integrity=False)
    figures = {"store_s": time.perf_counter() - began}
    archive = work / "1_log.npz"
    figures["store_archive_mb"] = archive.stat().st_size / 1e6
    if case != "reader":
        return figures
    with np.load(archive) as members:  # what a reference user reads archives with
        keys = members.files
        began = time.perf_counter()
        for key in keys:
            entry = members[key]
            _stamp, _payload = int(entry[1:9].view(np.uint64)[0]), entry[9:]
        figures["store_iterate_per_s"] = len(keys) / (time.perf_counter() - began)
        picks = [random.choice(keys) for _ in range(2000)]
        began = time.perf_counter()
        for key in picks:
            members[key]
        figures["store_random_us"] = (time.perf_counter() - began) / len(picks) * 1e6
    return figures


def main() -> None:
    side, case = sys.argv[1], sys.argv[2]
    work = Path(tempfile.mkdtemp(prefix=f"archive_{side}_{case}_", dir="/tmp"))
    try:
        figures = ours(case, work / "log") if side == "ours" else reference(case, work / "log")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
