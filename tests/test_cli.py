"""The command line as scripts use it: output, JSON, and exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ataraxis_like.shm import list_segments

pytestmark = pytest.mark.timeout(120)


def cli(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ataraxis_like", *arguments],
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )


def test_help_everywhere() -> None:
    commands = ([], ["shm"], ["shm", "ls"], ["shm", "clean"], ["demo"], ["bench"], ["chaos"],
                ["inspect"], ["compress"], ["recover"])  # fmt: skip
    for command in commands:
        result = cli(*command, "--help")
        assert result.returncode == 0
        assert result.stdout.startswith("usage: ataraxis-like")
        assert "exit codes:\n  0  success\n  1  " in result.stdout


def test_bench_lists_and_refuses_unknown_names() -> None:
    listed = cli("bench", "--list")
    assert listed.returncode == 0, listed.stderr
    names = listed.stdout.split()
    assert {"shm", "queue", "logger", "archive", "hdf5", "recorder", "experiment"} <= set(names)
    unknown = cli("bench", "--only", "shm,nosuch")
    assert unknown.returncode == 2
    assert "no benchmark named nosuch; choose from" in unknown.stderr
    assert "== bench_shm.py" not in unknown.stdout  # refused before running anything


def test_usage_error_exits_2_with_one_line() -> None:
    result = cli("no-such-command")
    assert result.returncode == 2
    assert "invalid choice" in result.stderr


def test_demo_json_summary_proves_nothing_lost(tmp_path: Path) -> None:
    result = cli(
        "demo", "--seconds", "1.5", "--rate", "500", "--payload", "100", "--json",
        "--output", str(tmp_path / "run"),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["settings"] == {"seconds": 1.5, "producers": 2, "rate": 500.0, "payload": 100}
    assert summary["entries"] == 1500
    assert summary["entries_checked"] == 1500
    assert summary["entries_lost"] == 0
    assert summary["entries_mismatched"] == 0
    assert summary["statistics_consistent"] is True
    assert summary["failed_producers"] == 0
    assert set(summary["archives"]) == {"0", "1"}
    for path in summary["archives"].values():
        assert Path(path).is_file()
    assert Path(summary["outputs"]["settings"]).read_text().startswith("# How long")
    assert summary["put_median_us"] > 0
    label = os.environ["ATARAXIS_LIKE_SHM_LABEL"]  # this run's, which the demo inherited
    assert not [info.name for info in list_segments(label=label)]  # not another run's leftovers


def test_demo_refuses_bad_options() -> None:
    result = cli("demo", "--producers", "0")
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "--producers" in result.stderr


def test_recover_refuses_a_file_that_is_not_hdf5_and_creates_nothing(tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("session notes\n")
    result = cli("recover", str(notes))
    assert result.returncode == 3
    assert result.stderr.strip() == (
        f"ataraxis-like: error: {notes} is not an HDF5 file (no HDF5 signature in its 14 bytes); "
        "pass the path of an HDF5 file"
    )
    assert sorted(path.name for path in tmp_path.iterdir()) == ["notes.txt"]  # no lock file


def test_demo_progress_lines_go_to_a_terminal_only(tmp_path: Path) -> None:
    """Piped, the demo prints its announcement, one final count and the summary: no progress
    line per second on stdout or stderr."""
    result = cli("demo", "--seconds", "2.5", "--rate", "200", "--payload", "16",
                 "--output", str(tmp_path / "run"))  # fmt: skip
    assert result.returncode == 0, result.stderr
    counts = [line for line in result.stdout.splitlines() if "entries sent" in line]
    assert len(counts) == 1, result.stdout
    assert "\r" not in result.stdout
    assert result.stderr == ""
