"""A separate process that uses a (possibly corrupted) segment and says how each call ended.

``python -m tests.support.segment_probe`` reads one JSON request per line on stdin,
``{"name": ..., "kind": "queue" | "array", "ops": [...]}`` (see QUEUE_OPS and ARRAY_OPS; an
op ``"poke <offset> <hex>"`` writes those bytes into the segment first), and answers each with
one JSON line: a list of ``[op, outcome, detail]`` where outcome is ``accepted``, ``typed``
(an AtaraxisError) or ``untyped`` (any other exception: a bug). A crash kills this process,
which its parent sees as a signal exit; a hang is the parent's timeout. Used by the corruption
tests and the fuzz suite, so that neither can take the pytest worker down with it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ataraxis_like import SharedMemoryArray
from ataraxis_like.errors import AtaraxisError
from ataraxis_like.shm._segment import segment_path
from ataraxis_like.shm.queue import ShmQueue

QUEUE_OPS = (
    "put", "put_mid", "put_large", "get", "get_many", "view", "qsize", "empty", "stats", "rescue",
)  # fmt: skip
ARRAY_OPS = ("read", "write", "locked")
ROOT = Path(__file__).resolve().parents[2]


def _queue_op(queue: ShmQueue, op: str) -> Any:
    calls: dict[str, Callable[[], Any]] = {
        "put": lambda: queue.put(b"probe", timeout=0),
        "put_mid": lambda: queue.put(b"M" * 400, timeout=0),
        "put_large": lambda: queue.put(b"L" * 3000, timeout=0),
        "get": lambda: queue.get(timeout=0),
        "get_many": lambda: queue.get_many(16, timeout=0),
        "view": lambda: queue.get_view(timeout=0).release(),
        "qsize": queue.qsize,
        "empty": queue.empty,
        "stats": queue.stats,
        "rescue": lambda: queue.ring().rescue_abandoned(),
    }
    return calls[op]()


def _array_op(array: SharedMemoryArray, op: str) -> Any:
    if op == "read":
        return array.read_data((0,), timeout=1)
    if op == "write":
        return array.write_data((0,), array.read_data((0,), timeout=1), timeout=1)
    with array.array(timeout=1):
        return None


def run(request: dict[str, Any]) -> list[list[str]]:
    results: list[list[str]] = []
    handle: Any = None

    def attempt(op: str, call: Callable[[], Any]) -> None:
        try:
            call()
        except AtaraxisError as error:
            results.append([op, "typed", f"{type(error).__name__}: {error}"])
        except Exception as error:
            results.append([op, "untyped", f"{type(error).__name__}: {error}"])
        else:
            results.append([op, "accepted", ""])

    def connect() -> None:
        nonlocal handle
        opener = ShmQueue.attach if request["kind"] == "queue" else SharedMemoryArray.attach
        handle = opener(request["name"])

    attempt("attach", connect)
    if handle is None:
        return results
    for op in request["ops"]:
        if op.startswith("poke "):  # "poke <offset> <hex>": garble the segment while attached
            _command, offset, data = op.split()
            with open(segment_path(request["name"]), "r+b") as segment:
                os.pwrite(segment.fileno(), bytes.fromhex(data), int(offset))
        elif request["kind"] == "queue":
            attempt(op, lambda op=op: _queue_op(handle, op))
        else:
            attempt(op, lambda op=op: _array_op(handle, op))
    attempt("close", handle.close if request["kind"] == "queue" else handle.disconnect)
    return results


def main() -> None:
    for line in sys.stdin:
        print(json.dumps(run(json.loads(line))), flush=True)


class Probe:
    """The probe process seen from the test: ``ask`` sends one request and waits for its
    answer; the process is started again after a crash or a hang (each still fails the test
    that saw it)."""

    def __init__(self, environment: dict[str, str] | None = None) -> None:
        self._environment = environment
        self._process: subprocess.Popen[str] | None = None

    def _start(self) -> subprocess.Popen[str]:
        if self._process is None or self._process.poll() is not None:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "tests.support.segment_probe"],
                cwd=ROOT,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                env=self._environment,
            )
        return self._process

    def ask(self, request: dict[str, Any], timeout: float) -> list[list[str]] | str:
        """The results, or ``"crashed (exit N)"`` / ``"hung"``."""
        process = self._start()
        assert process.stdin is not None
        assert process.stdout is not None
        process.stdin.write(json.dumps(request) + "\n")
        process.stdin.flush()
        answer: list[str] = []
        reader = threading.Thread(target=_read_line, args=(process, answer), daemon=True)
        reader.start()
        reader.join(timeout)
        if reader.is_alive():
            process.kill()
            process.wait()
            reader.join()
            return "hung"
        if not answer:
            return f"crashed (exit {process.wait()})"
        result: list[list[str]] = json.loads(answer[0])
        return result

    def close(self) -> None:
        if self._process is not None:
            if self._process.stdin is not None:
                self._process.stdin.close()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            if self._process.stdout is not None:
                self._process.stdout.close()
            self._process = None


def _read_line(process: subprocess.Popen[str], into: list[str]) -> None:
    assert process.stdout is not None
    line = process.stdout.readline()
    if line:
        into.append(line)


if __name__ == "__main__":
    main()
