"""``ataraxis-like chaos``: the pipeline under load while random processes are SIGKILLed.

Producer processes put LogPackages and count each put that returned in a shared array; the
logger process writes them. A chaos loop kills producers and the logger at random moments; the
watchdog restarts the logger and the loop restarts producers (in a new epoch, so a put whose
acknowledgement died with its producer is recognisable). At the end every acknowledged entry
must be on disk exactly once, and progress must never stall: loss, duplicates or a deadlock fail
the run.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import random
import signal
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import LockOwnerDiedWarning
from .logs import DataLogger, LoggerError, LogPackage
from .logs.format import read_batch
from .shm import SharedMemoryArray

_EPOCH_SHIFT = 40
_MAX_EPOCHS = 4096


def _produce(queue: Any, acked: SharedMemoryArray, producer: int, epoch: int, seed: int) -> None:
    """Put entries forever; after each put returns, record it as acknowledged."""
    warnings.simplefilter("ignore", LockOwnerDiedWarning)  # a killed sibling held the lock
    acked.connect()
    rng = np.random.default_rng(seed)
    base = epoch << _EPOCH_SHIFT
    sequence = 0
    while True:
        size = int(rng.choice([0, 16, 64, 1024, 65536]))
        payload = np.full(size, (producer + sequence) % 256, dtype=np.uint8)
        queue.put(LogPackage(producer, base | sequence, payload))
        acked[producer, epoch] = sequence + 1
        sequence += 1


@dataclass
class ChaosReport:
    """What the run did and what it found on disk."""

    seconds: float
    kills: dict[str, int] = field(default_factory=lambda: {"producer": 0, "logger": 0})
    acknowledged: int = 0
    on_disk: int = 0
    lost: int = 0
    duplicates: int = 0
    unacknowledged_extra: int = 0
    stalls: int = 0
    output: str = ""

    @property
    def passed(self) -> bool:
        return (
            self.lost == 0 and self.duplicates == 0 and self.stalls == 0 and self.acknowledged > 0
        )


def _verify(directory: Path, acked: np.ndarray, report: ChaosReport) -> None:
    """Count entries per (producer, epoch): a gapless prefix covering every acknowledgement."""
    seen: dict[tuple[int, int], tuple[int, int]] = {}
    for path in sorted(directory.glob("batch_*.npy")):
        batch = read_batch(path)
        for row in batch.index:
            seen[(batch.session, int(row["entry_id"]))] = (
                int(row["source_id"]), int(row["timestamp"]),
            )  # fmt: skip
    per_stream: dict[tuple[int, int], list[int]] = {}
    for source, stamp in seen.values():
        per_stream.setdefault((source, stamp >> _EPOCH_SHIFT), []).append(
            stamp & ((1 << _EPOCH_SHIFT) - 1)
        )
    report.on_disk = len(seen)
    for (producer, epoch), count in np.ndenumerate(acked):
        sequences = sorted(per_stream.get((producer, epoch), []))
        report.duplicates += len(sequences) - len(set(sequences))
        present = set(sequences)
        report.lost += sum(1 for sequence in range(int(count)) if sequence not in present)
        report.unacknowledged_extra += sum(1 for sequence in present if sequence >= count)


def run_chaos(
    seconds: float, producers: int = 3, seed: int = 0, output: Path | None = None
) -> ChaosReport:
    """Run the pipeline for ``seconds`` while killing its processes; return what was found."""
    warnings.simplefilter("ignore", LockOwnerDiedWarning)  # expected: we kill lock holders
    rng = random.Random(seed)
    directory = Path(output) if output else Path(tempfile.mkdtemp(prefix="ataraxis_chaos_"))
    report = ChaosReport(seconds=seconds, output=str(directory))
    context = mp.get_context("fork")
    acked = SharedMemoryArray.create_array(
        f"chaos_{os.getpid()}", np.zeros((producers, _MAX_EPOCHS), dtype=np.int64)
    )
    logger = DataLogger(directory, "chaos", flush_interval=0.05, max_restarts=10_000,
                        queue_bytes=32 << 20)  # fmt: skip
    epochs = [0] * producers
    processes: list[Any] = [None] * producers

    def launch(producer: int) -> None:
        processes[producer] = context.Process(
            target=_produce,
            args=(logger.input_queue, acked, producer, epochs[producer], rng.randrange(2**31)),
            daemon=True,
        )
        processes[producer].start()

    logger.start()
    try:
        for producer in range(producers):
            launch(producer)
        deadline = time.monotonic() + seconds
        last_total, last_progress = 0, time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(rng.uniform(0.05, 0.3))
            logger_process = logger._process
            if rng.random() < 0.5 and logger_process is not None:
                logger_process.send_signal(signal.SIGKILL)  # a no-op if it already exited
                report.kills["logger"] += 1
            else:
                victim = rng.randrange(producers)
                os.kill(processes[victim].pid, signal.SIGKILL)
                processes[victim].join()
                report.kills["producer"] += 1
                epochs[victim] += 1
                if epochs[victim] >= _MAX_EPOCHS:
                    break
                launch(victim)
            total = int(acked.read_data((0,)).sum())
            if total > last_total:
                last_total, last_progress = total, time.monotonic()
            elif time.monotonic() - last_progress > 10.0:
                report.stalls += 1
                break
    finally:
        for process in processes:
            if process is not None and process.is_alive():
                os.kill(process.pid, signal.SIGKILL)
                process.join()
        try:
            logger.stop()
        except LoggerError as error:
            if "every accepted entry was written" not in str(error):
                raise
        logger.close()
    counts = acked.read_data((0,))
    acked.destroy()
    report.acknowledged = int(counts.sum())
    _verify(logger.output_directory, counts, report)
    return report


def report_lines(report: ChaosReport) -> list[str]:
    verdict = "PASSED" if report.passed else "FAILED"
    return [
        f"chaos run {verdict} after {report.seconds:g} s",
        f"  processes killed      producers {report.kills['producer']}, "
        f"logger {report.kills['logger']}",
        f"  entries acknowledged  {report.acknowledged}",
        f"  entries on disk       {report.on_disk} ({report.unacknowledged_extra} whose "
        "producer died before counting its put)",
        f"  lost                  {report.lost}",
        f"  duplicated            {report.duplicates}",
        f"  stalls (no progress for 10 s)  {report.stalls}",
        f"  output                {report.output}",
    ]


def report_json(report: ChaosReport) -> str:
    fields = dict(report.__dict__)
    fields["passed"] = report.passed
    return json.dumps(fields)
