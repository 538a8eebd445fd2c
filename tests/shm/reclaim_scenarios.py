"""Scenarios about dead creators' segments, each run with a private /dev/shm (see
tests/support/private_shm.py): they need a stale segment to stay until they look, and no other
process of the machine may reclaim it first. Each returns normally or fails an assertion."""

from __future__ import annotations

import json
import math
import multiprocessing as mp
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

import psutil
import pytest

from ataraxis_like import SharedMemoryArray, cleanup_stale, list_arrays
from ataraxis_like.errors import SegmentExistsError
from ataraxis_like.shm import _census
from ataraxis_like.shm._names import segment_path

NOBODY = 65534


def _files() -> dict[str, int]:
    """Our segments in /dev/shm and their sizes."""
    return {
        entry.name: entry.stat().st_size
        for entry in os.scandir("/dev/shm")
        if entry.name.startswith("atxl_")
    }


def _states() -> dict[str, str]:
    return {info.name: info.state for info in list_arrays()}


def _python(code: str) -> subprocess.Popen[str]:
    """A Python process running ``code``; it talks through stdout and waits on stdin."""
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip


def _leave_stale(name: str, values: tuple[float, ...] = (1.0,), *, fork: bool = False) -> None:
    """Create ``name`` in a process that is then SIGKILLed: a dead creator's leftover. The creator
    is a fresh interpreter, or with ``fork`` a child of this process (a millisecond instead of
    about 0.3 s, for scenarios that need hundreds of leftovers)."""
    if not fork:
        creator = _python(f"""
            import os, signal
            from ataraxis_like import SharedMemoryArray
            SharedMemoryArray.create_array({name!r}, {list(values)!r})
            os.kill(os.getpid(), signal.SIGKILL)
        """)
        assert creator.wait(60) == -signal.SIGKILL, f"the creator of {name} failed"
        return
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child dies inside, never returns into the caller
        try:
            SharedMemoryArray.create_array(name, list(values))
            os.kill(os.getpid(), signal.SIGKILL)
        finally:
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == -signal.SIGKILL, f"the creator of {name} failed"


def _library_call_elsewhere() -> None:
    """What any other program of ours does: create (and destroy) a segment."""
    code = "from ataraxis_like import SharedMemoryArray\n"
    code += "SharedMemoryArray.create_array('probe', [0]).destroy()"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def killed_logger_owner_queue_is_reclaimed() -> None:
    """A SIGKILLed DataLogger owner leaves its 128 MiB queue; its logger process ends by itself
    and the next library call in another process removes the queue."""
    with tempfile.TemporaryDirectory() as directory:
        owner = _python(f"""
            import sys, time
            from pathlib import Path
            from ataraxis_like import DataLogger, LogPackage
            logger = DataLogger({directory!r}, "rig", flush_interval=0.01)
            logger.start()
            logger.input_queue.put(LogPackage(1, 0, b"x"))
            while not list(Path({directory!r}).rglob("*.npy")):  # the logger process is up
                time.sleep(0.01)
            print("ready", flush=True)
            sys.stdin.read()
        """)
        assert owner.stdout is not None
        assert owner.stdout.readline() == "ready\n"
        made = _files()
        assert len(made) == 1, made
        assert next(iter(made.values())) >= 128 << 20, made
        helpers = psutil.Process(owner.pid).children(recursive=True)
        assert helpers, "the logger process runs"
        owner.kill()
        owner.wait(30)
        _, still_running = psutil.wait_procs(helpers, timeout=30)
        assert not still_running, f"the logger process outlived its owner: {still_running}"
        assert _files() == made  # nothing has created or attached a segment since
        assert set(_states().values()) == {"stale"}
        _library_call_elsewhere()
        assert _files() == {}


def killed_sink_owner_segments_are_reclaimed() -> None:
    """A SIGKILLed owner of a queue-mode HDF5 sink leaves its segments; the next call in another
    process removes every one, and its writer process ends by itself."""
    with tempfile.TemporaryDirectory() as directory:
        owner = _python(f"""
            import sys
            import numpy as np
            from ataraxis_like.hdf5 import Hdf5Sink
            sink = Hdf5Sink({directory!r} + "/data.h5", "w", sharing="queue")
            client = sink.client()
            client.append("x", np.arange(3))
            client.flush()
            print("ready", flush=True)
            sys.stdin.read()
        """)
        assert owner.stdout is not None
        assert owner.stdout.readline() == "ready\n"
        made = _files()
        assert made
        helpers = psutil.Process(owner.pid).children(recursive=True)
        owner.kill()
        owner.wait(30)
        _, still_running = psutil.wait_procs(helpers, timeout=30)
        assert not still_running, f"the writer outlived its owner: {still_running}"
        assert set(_states().values()) == {"stale"}
        _library_call_elsewhere()
        assert _files() == {}


def killed_creator_is_stale_and_cleaned_but_live_one_kept() -> None:
    _leave_stale("dead", (1, 2, 3))
    _census._next_reclaim = math.inf  # as if this process had just scanned: no automatic removal
    with SharedMemoryArray.create_array("live", [1]) as live:
        assert _states() == {"dead": "stale", "live": "live"}
        with pytest.raises(SegmentExistsError, match=r"'dead' already exists and is a leftover"):
            SharedMemoryArray.create_array("dead", [0])
        assert cleanup_stale() == ["dead"]
        assert _states() == {"live": "live"}
        assert live.read_data(0) == 1
    _leave_stale("dead", (1, 2, 3))
    with SharedMemoryArray.create_array("dead", [7, 8], exist_ok=True) as replaced:
        assert replaced.read_data((0,), convert_output=True) == [7, 8]
    assert _files() == {}


def forked_child_does_not_keep_a_dead_creator_alive() -> None:
    """A fork child of the creator may outlive it; the creator's lifetime lock does not."""
    creator = _python("""
        import os, sys, time
        from ataraxis_like import SharedMemoryArray
        SharedMemoryArray.create_array("forked", [1])
        child = os.fork()
        if child == 0:  # os.fork() returns here after the at-fork hooks ran
            print(os.getpid(), flush=True)
            time.sleep(600)
            os._exit(0)
        sys.stdin.read()
    """)
    assert creator.stdout is not None
    child = int(creator.stdout.readline())
    try:
        assert _states() == {"forked": "live"}
        creator.kill()
        creator.wait(30)
        assert psutil.pid_exists(child)
        assert _states() == {"forked": "stale"}, (_states(), Path("/proc/locks").read_text())
    finally:
        os.kill(child, signal.SIGKILL)
    _library_call_elsewhere()
    assert _files() == {}


def creator_in_another_pid_namespace_is_live_until_it_dies() -> None:
    """A creator in a PID namespace of its own (a container sharing /dev/shm) is pid 1 there:
    its pid and start time say nothing here, its lifetime lock does."""
    code = textwrap.dedent("""
        import os, sys
        from ataraxis_like import SharedMemoryArray
        SharedMemoryArray.create_array("contained", [5])
        print(os.getpid(), flush=True)
        sys.stdin.read()
    """)
    runner = subprocess.Popen(
        ["unshare", "--pid", "--fork", sys.executable, "-c", code],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert runner.stdout is not None
    inner_pid = int(runner.stdout.readline())
    creator = psutil.Process(runner.pid).children()[0]
    assert inner_pid != creator.pid  # it really is in another PID namespace
    (info,) = list_arrays()
    assert (info.state, info.creator_pid) == ("live", inner_pid)
    assert cleanup_stale() == []
    assert _census.reclaim_stale(force=True) == []
    with SharedMemoryArray.attach("contained") as attached:
        assert attached.read_data(0) == 5
    creator.kill()
    runner.wait(30)
    assert _states() == {"contained": "stale"}
    assert cleanup_stale() == ["contained"]


def other_users_segments_are_listed_and_never_removed() -> None:
    """A stale segment of another user stays (only its user removes it); a non-root user lists
    root's segment as unreadable and goes on, exit 0."""
    child = os.fork()
    if child == 0:  # becomes nobody, creates, dies by SIGKILL
        os.setgid(NOBODY)
        os.setuid(NOBODY)
        SharedMemoryArray.create_array("nobodys", [1])
        os.kill(os.getpid(), signal.SIGKILL)
    _, status = os.waitpid(child, 0)
    assert os.WIFSIGNALED(status)
    (info,) = list_arrays()
    assert (info.name, info.state, info.owner_uid, info.ours) == ("nobodys", "stale", NOBODY, False)
    assert cleanup_stale() == []
    assert cleanup_stale(names=["nobodys"]) == []
    assert _census.reclaim_stale(force=True) == []
    assert segment_path("nobodys").exists()
    with SharedMemoryArray.create_array("roots", [2]):
        code, output = _cli_as_nobody("shm", "ls", "--json")
        assert code == 0, output
        rows = {row["name"]: row for row in json.loads(output)}
        assert rows["roots"]["state"] == "unreadable"
        assert rows["roots"]["owner_uid"] == 0
        assert rows["roots"]["reason"] == "Permission denied"
        assert rows["nobodys"]["state"] == "stale"
        code, output = _cli_as_nobody("shm", "ls")
        assert code == 0, output
        assert "Permission denied" in output
        code, output = _cli_as_nobody("shm", "clean")
        assert code == 0, output
        assert output.startswith("removed nobodys\n1 stale segment(s) removed"), output
        assert set(_files()) == {"atxl_roots"}
    assert _files() == {}


def _cli_as_nobody(*arguments: str) -> tuple[int, str]:
    """Run the command line as user nobody in a fork child (the interpreter and its library may
    live where nobody cannot read: everything it needs is imported first, as root); its exit
    code and what it printed."""
    from ataraxis_like import cli

    cli.build_parser()  # imports the subcommands' modules
    reader, writer = os.pipe()
    child = os.fork()
    if child == 0:
        code = 99
        try:
            os.close(reader)
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            os.dup2(writer, 1)
            os.dup2(writer, 2)
            sys.stdout = os.fdopen(1, "w")
            sys.stderr = sys.stdout
            code = cli.main(list(arguments))
            sys.stdout.flush()
        finally:
            os._exit(code)
    os.close(writer)
    with os.fdopen(reader) as stream:
        output = stream.read()
    _, status = os.waitpid(child, 0)
    return os.waitstatus_to_exitcode(status), output


def shm_ls_and_clean_commands() -> None:
    _leave_stale("cli_dead", (1.5, 2.5))
    command = [sys.executable, "-m", "ataraxis_like", "shm"]
    listing = subprocess.run([*command, "ls", "--json"], capture_output=True, text=True,
                             timeout=60, check=True)  # fmt: skip
    (row,) = json.loads(listing.stdout)
    assert (row["name"], row["state"], row["kind"]) == ("cli_dead", "stale", "array")
    assert "shape=(2,)" in row["layout"]
    text = subprocess.run([*command, "ls"], capture_output=True, text=True, check=True)
    assert "cli_dead" in text.stdout
    assert "stale" in text.stdout
    untouched = subprocess.run([*command, "clean", "cli_other"], capture_output=True,
                               text=True, check=True)  # fmt: skip
    assert "0 stale segment(s) removed" in untouched.stdout
    assert segment_path("cli_dead").exists()
    cleaned = subprocess.run([*command, "clean"], capture_output=True, text=True, check=True)
    assert cleaned.stdout.startswith("removed cli_dead\n1 stale segment(s) removed")
    assert _files() == {}


def _judge_repeatedly(name: str, start: Any, rounds: int, verdicts: Any) -> None:
    start.wait(30)
    path = segment_path(name)
    verdicts.put([_census.inspect_segment(path).state for _ in range(rounds)].count("stale"))


def concurrent_judges_never_take_each_other_for_the_creator() -> None:
    """Judging probes the creator's lifetime lock; an exclusive probe failed while another process
    probed the same segment, and a dead creator was then judged alive (its leftover refused to
    create_array(exist_ok=True) under `pytest -n 2`: the other worker was reclaiming)."""
    _leave_stale("judged", fork=True)
    context = mp.get_context("fork")
    start, verdicts = context.Barrier(3), context.Queue()
    judges = [context.Process(target=_judge_repeatedly, args=("judged", start, 3000, verdicts))
              for _ in range(3)]  # fmt: skip
    for judge in judges:
        judge.start()
    stale = [verdicts.get(timeout=60) for _ in judges]
    for judge in judges:
        judge.join(30)
    assert stale == [3000] * 3, f"judged stale in {stale} of 3000 rounds per process"
    assert cleanup_stale() == ["judged"]


def _reclaim_until(stop: Any) -> None:
    while not stop.is_set():
        _census.reclaim_stale(force=True)


def leftover_replaced_while_others_reclaim() -> None:
    """create_array(exist_ok=True) over a dead creator's leftover while two other processes
    reclaim stale segments: the leftover may vanish at any point of the replacement (between the
    check and the open, or the open and the unlink); the name is then free, never "in use"."""
    context = mp.get_context("fork")
    stop = context.Event()
    reclaimers = [context.Process(target=_reclaim_until, args=(stop,)) for _ in range(2)]
    for reclaimer in reclaimers:
        reclaimer.start()
    refused = []
    try:
        for index in range(300):
            name = f"replaced_{index % 4}"
            _leave_stale(name, fork=True)
            try:
                SharedMemoryArray.create_array(name, [2.0], exist_ok=True).destroy()
            except SegmentExistsError as error:
                refused.append(str(error))
    finally:
        stop.set()
        for reclaimer in reclaimers:
            reclaimer.join(30)
    assert not refused, f"{len(refused)} of 300 replacements refused, e.g. {refused[0]}"
    assert _files() == {}
