"""Segments of dead processes are removed by the library itself, and nothing else ever is."""

from __future__ import annotations

import os
import struct
import subprocess
import sys

import pytest

from ataraxis_like import SharedMemoryArray, cleanup_stale, list_arrays
from ataraxis_like.errors import InvalidNameError
from ataraxis_like.shm import _census, _header, _liveness
from ataraxis_like.shm._names import segment_path
from tests.shm import reclaim_scenarios
from tests.support.private_shm import run_private

pytestmark = pytest.mark.timeout(120)


def test_killed_logger_owner_queue_is_reclaimed_by_the_next_call() -> None:
    run_private(reclaim_scenarios.killed_logger_owner_queue_is_reclaimed)


def test_killed_sink_owner_segments_are_reclaimed_by_the_next_call() -> None:
    run_private(reclaim_scenarios.killed_sink_owner_segments_are_reclaimed)


def test_concurrent_judges_never_take_each_other_for_the_creator() -> None:
    run_private(reclaim_scenarios.concurrent_judges_never_take_each_other_for_the_creator)


def test_a_leftover_is_replaced_while_other_processes_reclaim() -> None:
    run_private(reclaim_scenarios.leftover_replaced_while_others_reclaim)


def test_killed_creator_is_stale_and_cleaned_but_live_one_kept() -> None:
    run_private(reclaim_scenarios.killed_creator_is_stale_and_cleaned_but_live_one_kept)


def test_forked_child_does_not_keep_a_dead_creator_alive() -> None:
    run_private(reclaim_scenarios.forked_child_does_not_keep_a_dead_creator_alive)


def test_creator_in_another_pid_namespace_is_live_until_it_dies() -> None:
    if os.geteuid() != 0:
        pytest.skip("a new PID namespace needs root (unshare --pid)")
    run_private(reclaim_scenarios.creator_in_another_pid_namespace_is_live_until_it_dies)


def test_other_users_segments_are_listed_and_never_removed() -> None:
    if os.geteuid() != 0:
        pytest.skip("making a segment as another user (nobody) needs root")
    run_private(reclaim_scenarios.other_users_segments_are_listed_and_never_removed)


def test_shm_ls_and_clean_commands() -> None:
    run_private(reclaim_scenarios.shm_ls_and_clean_commands)


def _write_version_1(name: str, creator_pid: int, start_time: float = 1.0) -> None:
    """A segment as version 1 of the library wrote it (its fixed fields up to the flags)."""
    fixed = struct.pack("<8sHHIIIdQQI", _header.MAGIC, 1, _header.KIND_ARRAY, 448, creator_pid,
                        0, start_time, 12345, 0, 0)  # fmt: skip
    segment_path(name).write_bytes(fixed.ljust(512, b"\x00"))


def test_files_without_our_header_and_old_versions_are_kept(shm_name: str) -> None:
    """A file under our prefix without our header is never removed; a version-1 segment whose
    creator is not found here may live in another PID namespace: removed only when named."""
    foreign, old = shm_name + "_foreign", shm_name + "_old"
    segment_path(foreign).write_bytes(b"somebody else's data")
    _write_version_1(old, creator_pid=2**22 + 1)  # above pid_max: no such process here
    try:
        states = {info.name: (info.state, info.version) for info in list_arrays()}
        assert states[foreign] == ("foreign", None)
        assert states[old] == ("unknown", 1)
        assert _census.reclaim_stale(force=True).count(old) == 0
        assert cleanup_stale().count(old) == 0
        assert cleanup_stale(names=[foreign]) == []
        assert segment_path(foreign).exists()
        assert segment_path(old).exists()
        assert cleanup_stale(names=[old]) == [old]
    finally:
        segment_path(foreign).unlink(missing_ok=True)
        segment_path(old).unlink(missing_ok=True)


def test_version_1_segment_of_a_live_creator_is_live(shm_name: str) -> None:
    _write_version_1(shm_name, os.getpid(), _liveness.process_start_time(os.getpid()))
    assert _census.inspect_segment(segment_path(shm_name)).state == "live"
    assert cleanup_stale(names=[shm_name]) == []
    assert segment_path(shm_name).exists()


def test_segments_record_the_label_of_their_creator(
    shm_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    code = f"""
import sys
from ataraxis_like import SharedMemoryArray
handle = SharedMemoryArray.create_array({shm_name!r}, [1])
print("ready", flush=True)
sys.stdin.read()
"""
    environment = dict(os.environ, ATARAXIS_LIKE_SHM_LABEL="rig-7.session_2")
    with subprocess.Popen(
        [sys.executable, "-c", code],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=environment,
    ) as creator:
        assert creator.stdout is not None
        assert creator.stdout.readline() == "ready\n"
        (info,) = [info for info in _census.list_segments(label="rig-7.session_2")
                   if info.name == shm_name]  # fmt: skip
        assert info.label == "rig-7.session_2"
        creator.communicate("")
    environment["ATARAXIS_LIKE_SHM_LABEL"] = "no spaces"
    result = subprocess.run([sys.executable, "-c", code], env=environment, capture_output=True,
                            text=True, timeout=60, check=False)  # fmt: skip
    assert result.returncode == 1
    assert "ATARAXIS_LIKE_SHM_LABEL='no spaces' cannot label a segment" in result.stderr
    monkeypatch.setenv("ATARAXIS_LIKE_SHM_LABEL", "x" * 33)
    with pytest.raises(InvalidNameError, match="expected 1 to 32"):
        SharedMemoryArray.create_array(shm_name, [1])
    assert not segment_path(shm_name).exists()


def test_a_segment_removed_while_listing_is_not_listed(
    shm_name: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Other processes remove segments at any moment: ``shm ls`` printed a traceback when one
    vanished between the directory listing and its reading."""
    from ataraxis_like.cli import main

    gone = segment_path(shm_name)
    info = _census.inspect_segment(gone)
    assert (info.state, info.reason, info.owner_uid) == ("unreadable", _census.VANISHED, None)
    monkeypatch.setattr(_census.SHM_DIRECTORY.__class__, "glob", lambda _self, _pattern: [gone])
    assert _census.list_segments() == []
    import ataraxis_like.shm

    monkeypatch.setattr(ataraxis_like.shm, "list_segments", lambda label=None: [info])
    assert main(["shm", "ls"]) == 0
    assert f"{shm_name:<32} ?      unreadable        ?      ?" in capsys.readouterr().out
