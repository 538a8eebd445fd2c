"""What the fuzz suite tried, per public entry point: inputs, accepted, typed errors.

A fuzz test wraps each call in ``with attempt("<entry point>"):``. A typed error (our
``AtaraxisError``) is an expected answer to bad input and is counted; any other exception
propagates and fails the test. Crashes (a dead worker) and hangs (pytest-timeout) fail the test
too, so a green fuzz run means 0 of both. With ``ATARAXIS_FUZZ_TALLY=<directory>`` set, each test
process writes its counts there at exit; ``python -m tests.fuzz.report <directory>`` sums them.
``ATARAXIS_FUZZ_SCALE=<factor>`` multiplies every fuzz test's number of inputs (and its time
limit with it), so one variable makes the whole suite search longer.
"""

from __future__ import annotations

import atexit
import json
import os
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ataraxis_like.errors import AtaraxisError

TALLY: defaultdict[str, Counter[str]] = defaultdict(Counter)
SCALE = float(os.environ.get("ATARAXIS_FUZZ_SCALE", "1"))


def examples(default: int) -> int:
    """How many inputs a fuzz test tries: ``default`` times ``ATARAXIS_FUZZ_SCALE``."""
    return max(1, round(default * SCALE))


def time_limit(seconds: float) -> float:
    """A fuzz test's time limit, grown with ``ATARAXIS_FUZZ_SCALE`` (never shrunk)."""
    return seconds * max(1.0, SCALE)


@contextmanager
def attempt(entry_point: str) -> Iterator[None]:
    """Count one input given to ``entry_point`` and how it ended."""
    TALLY[entry_point]["inputs"] += 1
    try:
        yield
    except AtaraxisError:
        TALLY[entry_point]["typed errors"] += 1
    else:
        TALLY[entry_point]["accepted"] += 1


def _write_tally() -> None:
    directory = os.environ.get("ATARAXIS_FUZZ_TALLY")
    if not directory or not TALLY:
        return
    target = Path(directory) / f"tally-{os.getpid()}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps({name: dict(counts) for name, counts in TALLY.items()}))


atexit.register(_write_tally)
