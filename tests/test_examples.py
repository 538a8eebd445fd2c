"""Every example runs as a user would run it, and what it prints is true."""

from __future__ import annotations

from pathlib import Path

import pytest

from ataraxis_like.shm._segment import segment_path

from .support.examples import EXAMPLES, run_example
from .support.seed_names import fixed_names

pytestmark = pytest.mark.timeout(120)


def run(name: str) -> str:
    result = run_example(name)
    assert "Traceback" not in result.stderr
    return result.stdout


def test_shared_array_example() -> None:
    with fixed_names():  # the script names its array 'example_state', as a user's script would
        out = run("shared_array_example.py")
    assert "4 processes x 5000 locked increments = 20000\n" in out
    assert "an unrelated process attached by name and saw: (2,) int64 20000\n" in out
    assert "after killing a lock holder: read -1, told it died: True\n" in out


def test_queue_example() -> None:
    out = run("queue_example.py")
    assert "received 100 frames of 480x640 uint8 in order, then" in out
    assert "zero-copy view: 1000000 float64 values, sum 499999500000\n" in out
    assert "'bytes_used': 0" in out


def test_logger_example() -> None:
    out = run("logger_example.py")
    assert "3 processes logged 6000 entries into " in out
    assert "compressed into ['1_log.npz', '2_log.npz', '3_log.npz']\n" in out
    for source in (1, 2, 3):
        assert (
            f"source {source}: 2000 entries, every index once: True, only from source "
            f"{source}: True, time ordered: True\n"
        ) in out


def test_ads31_shared_memory_array_examples_run_as_written() -> None:
    """The 3.1 README's four array examples, each in a fresh interpreter of the interpreter
    running the suite (CI installs the package into a fresh virtual environment first)."""
    with fixed_names():
        out = run("ads31_shared_memory_array.py")
    assert out.splitlines() == [
        "array_creation: ran",
        "connection: ran",
        "reading: ran",
        "writing: ran",
    ]
    assert not segment_path("unique_buffer").exists()


def test_ads31_data_logger_example_runs_as_written() -> None:
    """The 3.1 README's DataLogger block (its one deliberate difference in the script)."""
    out = run("ads31_data_logger.py")
    assert out.splitlines() == [
        "logged 2 entries, archived as 1_log.npz; started=False",
        "[[1, 2, 3, 4, 5], [6, 7, 8, 9, 10]]",
    ]


def test_every_example_has_a_test() -> None:
    """Each example's file name appears in a test that runs it, here or beside its package."""
    tests_root = Path(__file__).resolve().parent
    test_sources = "\n".join(
        path.read_text(encoding="utf-8")
        for path in tests_root.rglob("test_*.py")
        if path.name != Path(__file__).name
    )
    test_sources += (
        Path(__file__).read_text(encoding="utf-8").split("def test_every_example_has_a_test")[0]
    )
    present = sorted(path.name for path in EXAMPLES.glob("*.py"))
    untested = [name for name in present if f'"{name}"' not in test_sources]
    assert present, "no examples found"
    assert not untested, f"examples without a test: {untested}"
