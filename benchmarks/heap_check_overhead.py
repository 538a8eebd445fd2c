"""What the global heap check adds to loading a 100,000-row text key.

python benchmarks/heap_check_overhead.py [none|gzip|lzf] [--repeats N]

"before" is the read the reader did before the check (``load_dataset`` on the reader's dataset);
"after, new reader" is ``SinkReader.load`` in a reader that has checked nothing yet (every
collection walked); "after, same reader" is a second load in that reader (collections
remembered, the key's references still read). Medians of N rounds, each in a fresh reader.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from ataraxis_like.hdf5 import Hdf5Sink, SinkReader
from ataraxis_like.hdf5.reader import load_dataset

ROWS = 100_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("compression", nargs="?", default="none", choices=["none", "gzip", "lzf"])
    parser.add_argument("--repeats", type=int, default=7)
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "text.h5"
        compression = None if arguments.compression == "none" else arguments.compression
        with Hdf5Sink(path, "w", compression=compression) as sink:
            rows = [f"row {number} ünïcode {number * 7}" for number in range(ROWS)]
            sink.extend("text", np.array(rows, dtype=object))
        before, cold, warm = [], [], []
        for _ in range(arguments.repeats):
            with SinkReader(path) as reader:
                dataset = reader["text"]
                start = time.perf_counter()
                unchecked = load_dataset(dataset)
                before.append(time.perf_counter() - start)
            with SinkReader(path) as reader:
                start = time.perf_counter()
                checked = reader.load("text")
                cold.append(time.perf_counter() - start)
                start = time.perf_counter()
                reader.load("text")
                warm.append(time.perf_counter() - start)
            assert checked.tolist() == unchecked.tolist()
    base, first, again = (statistics.median(times) * 1e3 for times in (before, cold, warm))
    print(
        f"{ROWS:,} text rows, {arguments.compression}: before {base:.1f} ms; after, new reader "
        f"{first:.1f} ms (+{first - base:.1f} ms, +{100 * (first / base - 1):.0f}%); after, "
        f"same reader {again:.1f} ms (+{again - base:.1f} ms, +{100 * (again / base - 1):.0f}%)"
    )


if __name__ == "__main__":
    main()
