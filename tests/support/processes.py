"""Running worker processes in tests."""

from __future__ import annotations

from typing import Any

LONG_LIVED: set[int] = set()
"""Pids of helpers meant to outlive a test module (a session's redis-server)."""


def run_together(processes: list[Any], start: Any, timeout: float) -> None:
    """Start the processes, release them together with ``start`` (an Event they wait on), and
    require each to end cleanly within ``timeout`` seconds."""
    for process in processes:
        process.start()
    start.set()
    for process in processes:
        process.join(timeout)
        assert process.exitcode == 0, f"{process.name} ended with {process.exitcode}"
