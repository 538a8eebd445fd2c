"""The DataLogger example of the ataraxis-data-structures 3.1 README, run against ataraxis_like.

Its code is the README's, line for line, with two changes (both in
docs/migrating-from-ataraxis-data-structures.md):
- the import line names ataraxis_like;
- the README counts one .npy file per entry; this logger writes one batch file per flush (one
  file per entry caps a logger at a few thousand entries per second), so the two entries are
  counted in the archive instead.
The comments are ours.

Run: python examples/ads31_data_logger.py
"""

import time as tm
from pathlib import Path
import tempfile

import numpy as np

from ataraxis_like import DataLogger, LogArchiveReader, LogPackage  # was: ataraxis_data_structures

# The logger process is started with subprocess here, so the guard is not needed; it stays
# because the README has it.
if __name__ == "__main__":
    # A folder for the log and a name for this logger; the log goes to <folder>/my_name_data_log.
    tempdir = tempfile.TemporaryDirectory()  # A temporary directory for illustration purposes
    logger = DataLogger(output_directory=Path(tempdir.name), instance_name="my_name")

    # Start the logger process; from here on, entries put in the queue reach the disk.
    logger.start()

    # The producer side: picklable, so any process can be handed it and put into it.
    logger_queue = logger.input_queue

    # One entry: the source's id, a timestamp, and the payload bytes as a uint8 array.
    source_id = np.uint8(1)  # Has to be an unit8
    timestamp = np.uint64(tm.perf_counter_ns())  # Has to be an uint64
    data = np.array([1, 2, 3, 4, 5], dtype=np.uint8)  # Has to be an uint8 numpy array
    logger_queue.put(LogPackage(source_id, timestamp, data))

    # A second entry from the same source, with a later timestamp.
    timestamp = np.uint64(tm.perf_counter_ns())
    data = np.array([6, 7, 8, 9, 10], dtype=np.uint8)
    logger_queue.put(LogPackage(source_id, timestamp, data))  # Same source id

    # stop() returns once every accepted entry is on disk, and stops the logger process.
    logger.stop()

    # Deliberate difference: the README asserts two .npy files here, one per entry. Both
    # entries are in one batch file instead, so they are counted in the archive below.

    # One compressed archive per source; the batch files are removed once archived.
    archives = logger.compress_logs(remove_sources=True)
    assert len(LogArchiveReader(archives[1])) == 2

    # Only the archive of source 1 is left.
    assert len(list(logger.output_directory.glob("**/*.npy"))) == 0
    assert len(list(logger.output_directory.glob("**/*.npz"))) == 1
    print(f"logged 2 entries, archived as {archives[1].name}; started={logger.started}")
    print([payload.tolist() for _time, payload in LogArchiveReader(archives[1])])
