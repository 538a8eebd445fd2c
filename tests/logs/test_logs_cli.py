"""``ataraxis-like compress`` and ``ataraxis-like inspect``: output, JSON and exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ataraxis_like.cli import main
from ataraxis_like.logs import LogArchiveReader

from . import Entry, write_batch

pytestmark = pytest.mark.timeout(60)
ONSET = 1_700_000_000_000_000  # 2023-11-14T22:13:20+00:00


def make_log(directory: Path) -> None:
    """Source 1 every 10 ms with one 500 ms gap; source 2 three entries; a crash copy."""
    directory.mkdir(parents=True, exist_ok=True)
    stamps = [n * 10_000 for n in range(50)] + [990_000 + n * 10_000 for n in range(50)]
    ones = [Entry(1, stamp, b"one", 1, n) for n, stamp in enumerate(stamps)]
    twos = [Entry(2, stamp, b"two", 1, 1000 + n) for n, stamp in enumerate((5, 6, 2_000_005))]
    write_batch(directory, ones[:60] + twos, ONSET, 0)
    write_batch(directory, ones[55:], ONSET, 1)


def test_compress_then_inspect_archives(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    make_log(tmp_path)
    assert main(["compress", str(tmp_path), "--remove-sources", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["added"] == {"1": 100, "2": 3}
    assert summary["duplicates"] == 5
    assert len(summary["removed"]) == 2
    assert summary["problems"] == {}
    assert len(LogArchiveReader(tmp_path / "1_log.npz")) == 100

    assert main(["inspect", str(tmp_path), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    one, two = report["sources"]
    assert (one["source_id"], one["messages"], one["archive"]) == (1, 100, "1_log.npz")
    assert one["span_s"] == pytest.approx(1.48)
    assert one["rate_hz"] == pytest.approx(99 / 1.48)
    assert one["largest_gaps"][0] == {"after_us": 490_000, "gap_us": 500_000}
    assert one["first_utc"] == "2023-11-14T22:13:20+00:00"
    assert two["messages"] == 3
    assert two["largest_gaps"][0]["gap_us"] == 1_999_999

    assert main(["inspect", str(tmp_path / "2_log.npz")]) == 0
    text = capsys.readouterr().out
    assert "3 " in text
    assert "1,999.999 ms after 0.000 s" in text


def test_inspect_counts_batches_before_compression(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make_log(tmp_path)
    (tmp_path / "notes.txt").write_text("x")
    assert main(["inspect", str(tmp_path)]) == 1  # a foreign file is a problem
    text = capsys.readouterr().out
    assert "2 source(s)" in text
    assert "       100 " in text  # copies are counted once
    assert "from 2 batch file(s)" in text
    assert "notes.txt: neither a logger batch file nor a log archive" in text


def test_compress_reports_problems_with_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make_log(tmp_path)
    (tmp_path / "notes.txt").write_text("x")
    assert main(["compress", str(tmp_path), "--no-compress", "--verify-integrity"]) == 1
    out = capsys.readouterr().out
    assert "2 source(s) archived" in out
    assert "notes.txt: neither" in out
    assert not LogArchiveReader(tmp_path / "1_log.npz").compressed
    assert (tmp_path / "notes.txt").exists()


def test_errors_are_one_line_with_exit_3(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for command in (["compress", str(tmp_path / "none")], ["inspect", str(tmp_path / "none")]):
        assert main(command) == 3
        err = capsys.readouterr().err
        assert err.count("\n") == 1
        assert err.startswith("ataraxis-like: error: ")
        assert "does not exist" in err
    (tmp_path / "3_log.npz").write_text("junk")
    assert main(["inspect", str(tmp_path / "3_log.npz")]) == 3
    assert "not a readable log archive" in capsys.readouterr().err


def test_installed_command_runs(tmp_path: Path) -> None:
    make_log(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "ataraxis_like", "compress", str(tmp_path), "--quiet"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    assert sorted(p.name for p in tmp_path.glob("*_log.npz")) == ["1_log.npz", "2_log.npz"]


def test_the_folder_given_to_datalogger_means_the_log_folders_in_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A DataLogger writes into <output_directory>/<name>_data_log: given the output directory,
    compress and inspect act on each log folder in it (it used to be "0 source(s)", exit 0)."""
    for name in ("rig", "camera"):
        make_log(tmp_path / f"{name}_data_log")
    (tmp_path / "notes").mkdir()  # a folder without logs is not one of them
    assert main(["compress", str(tmp_path), "--json"]) == 0
    summaries = json.loads(capsys.readouterr().out)
    assert [summary["directory"] for summary in summaries] == [
        str(tmp_path / "camera_data_log"), str(tmp_path / "rig_data_log")
    ]  # fmt: skip
    assert all(summary["added"] == {"1": 100, "2": 3} for summary in summaries)
    assert not list(tmp_path.glob("*_log.npz"))
    assert main(["inspect", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert text.startswith(f"{tmp_path}: 2 log folder(s)\n")
    assert f"{tmp_path / 'rig_data_log'}: 2 source(s)" in text
    assert main(["inspect", str(tmp_path), "--json"]) == 0
    folders = json.loads(capsys.readouterr().out)["log_folders"]
    assert [len(folder["sources"]) for folder in folders] == [2, 2]


def test_a_folder_without_logs_says_which_folder_to_pass(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "notes").mkdir()
    for command in ("compress", "inspect"):
        assert main([command, str(tmp_path)]) == 3
        err = capsys.readouterr().err
        assert err.count("\n") == 1
        assert f"{tmp_path} holds no log files" in err
        assert "pass the folder a DataLogger writes: <output_directory>/<name>_data_log" in err
    assert sorted(path.name for path in tmp_path.iterdir()) == ["notes"]  # nothing made
    empty_log_folder = tmp_path / "idle_data_log"  # a logger that wrote nothing yet
    empty_log_folder.mkdir()
    assert main(["compress", str(empty_log_folder), "--quiet"]) == 0


def test_progress_lines_go_to_a_terminal_only(tmp_path: Path) -> None:
    """compress shows its progress line on stderr only when stderr is a terminal; the summary
    prints either way."""
    import os
    import pty

    make_log(tmp_path / "a")
    piped = subprocess.run(
        [sys.executable, "-m", "ataraxis_like", "compress", str(tmp_path / "a")],
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert piped.returncode == 0, piped.stderr
    assert "compressing logs" not in piped.stderr
    assert "2 source(s) archived" in piped.stdout
    make_log(tmp_path / "b")
    leader, follower = pty.openpty()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "ataraxis_like", "compress", str(tmp_path / "b")],
            stdout=subprocess.PIPE, stderr=follower, text=True, check=False, timeout=60,
        )  # fmt: skip
        os.close(follower)
        follower = -1
        shown = b""
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # the terminal closed: everything was read
                break
            if not chunk:
                break
            shown += chunk
    finally:
        os.close(leader)
        if follower >= 0:
            os.close(follower)
    assert done.returncode == 0
    assert b"compressing logs" in shown
    assert "2 source(s) archived" in done.stdout
