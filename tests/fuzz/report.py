"""Sum the fuzz tallies written under ``ATARAXIS_FUZZ_TALLY`` into one table.

Crashes and hangs are not counted here: each fails its test, so they are the pytest run's
failures (a green run had none).

Usage: ``ATARAXIS_FUZZ_TALLY=/tmp/t python -m pytest tests/fuzz -n 2 &&
python -m tests.fuzz.report /tmp/t``.
"""

from __future__ import annotations

import json
import sys
from collections import Counter, defaultdict
from pathlib import Path

COLUMNS = ("inputs", "accepted", "typed errors")


def main(directory: str) -> None:
    totals: defaultdict[str, Counter[str]] = defaultdict(Counter)
    for path in sorted(Path(directory).glob("tally-*.json")):
        for name, counts in json.loads(path.read_text()).items():
            totals[name].update(counts)
    print(f"| entry point | {' | '.join(COLUMNS)} |")
    print(f"|---|{'---|' * len(COLUMNS)}")
    for name in sorted(totals):
        cells = " | ".join(str(totals[name][column]) for column in COLUMNS)
        print(f"| {name} | {cells} |")


if __name__ == "__main__":
    main(sys.argv[1])
