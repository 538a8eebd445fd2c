"""Log from several processes, compress to one archive per source, and read every entry back.

Run: python examples/logger_example.py
"""

from __future__ import annotations

import multiprocessing as mp
import tempfile
from pathlib import Path

import numpy as np

from ataraxis_like.logs import DataLogger, LogArchiveReader, LogPackage

ENTRIES = 2000


def sensor(logger: DataLogger, source_id: int) -> None:
    """A producer: each entry is a timestamp and 16 bytes saying who sent it and which it is.

    The logger arrives here as a RemoteLogger: its queue and clock, but not start or stop.
    """
    for index in range(ENTRIES):
        payload = np.array([source_id, index], dtype=np.int64).view(np.uint8)
        logger.input_queue.put(LogPackage(source_id, logger.timestamp_us(), payload))


def main(directory: Path) -> None:
    logger = DataLogger(directory, "rig")
    logger.start()
    producers = [
        mp.get_context("spawn").Process(target=sensor, args=(logger, source_id))
        for source_id in (1, 2, 3)
    ]
    for producer in producers:
        producer.start()
    for producer in producers:
        producer.join()
    logger.stop()  # returns once every accepted entry is in a batch file
    batches = len(list(logger.output_directory.glob("batch_*.npy")))
    print(f"3 processes logged {3 * ENTRIES} entries into {batches} batch file(s)")

    result = logger.compress_logs(remove_sources=True)
    print(f"compressed into {sorted(path.name for path in result.values())}")

    for source_id, path in sorted(result.items()):
        with LogArchiveReader(path) as reader:
            indices = [int(payload.view(np.int64)[1]) for _, payload in reader]
            senders = {int(payload.view(np.int64)[0]) for _, payload in reader}
            ordered = bool(np.all(np.diff(reader.timestamps.astype(np.int64)) >= 0))
            print(
                f"source {source_id}: {len(reader)} entries, every index once: "
                f"{sorted(indices) == list(range(ENTRIES))}, only from source {source_id}: "
                f"{senders == {source_id}}, time ordered: {ordered}"
            )
    logger.close()


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as scratch:
        main(Path(scratch))
