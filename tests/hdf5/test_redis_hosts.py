"""Processes on several "hosts" sharing one HDF5 file through a Redis lock, with a real server.

Each host is a process group in its own mount, IPC and UTS namespaces (unshare): a private
tmpfs on /dev/shm and its own host name, so the groups share nothing but the file and the
Redis URL. The test process holds the file's flock exclusively the whole time, which proves the
groups never rely on it.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import h5py
import numpy as np
import pytest
import redis

from ataraxis_like.hdf5 import Hdf5Sink, LockLostError, locked_file
from ataraxis_like.hdf5._rwlock import FileRWLock
from ataraxis_like.hdf5._writer import journal_entry
from ataraxis_like.hdf5.locked import LOCK_SESSION, write_batch

pytestmark = pytest.mark.timeout(300)
GROUP = Path(__file__).with_name("redis_group.py")
LEASE = 2.0


def _unshare_prefix() -> list[str] | None:
    """The unshare command that gives a private /dev/shm here, or None (as root, or through a
    user namespace where those are allowed)."""
    candidates = [["unshare", "--mount", "--ipc", "--uts", "--propagation", "private"]]
    candidates.append(["unshare", "--user", "--map-root-user", *candidates[0][1:]])
    for prefix in candidates if os.geteuid() == 0 else candidates[1:]:
        probe = subprocess.run([*prefix, "sh", "-c", "mount -t tmpfs tmpfs /dev/shm"],
                               capture_output=True, check=False)  # fmt: skip
        if probe.returncode == 0:
            return prefix
    return None


def _host(prefix: list[str], name: str, arguments: list[str]) -> subprocess.Popen[bytes]:
    command = shlex.join([sys.executable, str(GROUP), *arguments])
    script = f"mount -t tmpfs -o size=16m tmpfs /dev/shm && hostname {name} && exec {command}"
    return subprocess.Popen([*prefix, "sh", "-c", script])


def _writer_key(path: Path) -> str:
    return f"ataraxis-like:h5lock:{{{path.resolve()}}}:writer"


def _partial_rows(path: Path) -> int:
    """Rows of ``rows`` beyond the plan of an uncommitted lock-mode batch (read only)."""
    with h5py.File(path, "r", swmr=True, locking=False) as handle:
        session, serial = (int(value) for value in handle["__sink__/commit"][()])
        entry = journal_entry(handle, LOCK_SESSION, serial + 1)
        if session != LOCK_SESSION or entry is None or "rows" not in entry["plan"]:
            return 0
        return int(handle["rows"].shape[0] - entry["plan"]["rows"][0])


def _kill_mid_batch(server: redis.Redis, path: Path, host: str) -> tuple[float, int]:
    """SIGKILL the process of ``host`` while it holds the write lock with a batch half written;
    the moment and how many rows of that batch were on disk."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        holder = (server.get(_writer_key(path)) or b"").decode()
        if not holder.startswith(f"{host}:"):
            time.sleep(0.002)
            continue
        pid = int(holder.split(":")[1])
        os.kill(pid, signal.SIGSTOP)
        try:
            still = (server.get(_writer_key(path)) or b"").decode() == holder
            partial = _partial_rows(path) if still else 0
        except (OSError, KeyError, RuntimeError, ValueError):  # caught mid-metadata: again
            partial = 0
        if partial:
            os.kill(pid, signal.SIGKILL)
            return time.monotonic(), partial
        os.kill(pid, signal.SIGCONT)
        time.sleep(0.003)
    raise AssertionError(f"never caught {host} inside a batch")


def test_two_hosts_share_a_file_through_redis(tmp_path: Path, redis_port: int) -> None:
    prefix = _unshare_prefix()
    if prefix is None:
        pytest.skip("no private /dev/shm here: unshare needs root or user namespaces")
    url = f"redis://127.0.0.1:{redis_port}/0?lease={LEASE}"
    path = tmp_path / "shared.h5"
    Hdf5Sink(path, "w", sharing="lock", lock=url).close()
    server = redis.Redis(port=redis_port)
    batches, rows, big = 30, 500, 100_000
    marker = f"h5lock-test-{uuid.uuid4().hex[:8]}"
    flock = FileRWLock(path)
    flock.acquire(exclusive=True, timeout=5)  # held all along: the groups must not need it
    reports = {name: tmp_path / f"{name}.json" for name in ("host-a", "host-b", "host-c")}
    roles = {
        "host-a": [f"writer:0:{batches}:{rows}", f"writer:1:{batches}:{rows}"],
        "host-b": [f"writer:2:{batches}:{rows}", f"writer:3:{batches}:{rows}", f"reader:8:{rows}"],
        "host-c": [f"writer:9:1000:{big}"],
    }
    hosts = {
        name: _host(
            prefix, name, [str(reports[name]), url, str(path), f"{marker}-{name}", *roles[name]]
        )
        for name in roles
    }
    try:
        killed_at, partial = _kill_mid_batch(server, path, "host-c")
        while (server.get(_writer_key(path)) or b"").decode().startswith("host-c:"):
            assert time.monotonic() - killed_at < LEASE + 2.0, "the dead holder kept the lock"
            time.sleep(0.005)
        handed_over = time.monotonic() - killed_at
        for process in hosts.values():
            assert process.wait(240) == 0
    finally:
        for process in hosts.values():
            if process.poll() is None:
                process.kill()
                process.wait()
        flock.release()
    found = {name: json.loads(reports[name].read_text()) for name in hosts}
    for name, report in found.items():
        assert report["host"] == name
        assert report["shm_markers"] == [f"{marker}-{name}"], "a group saw another's /dev/shm"
    assert not list(Path("/dev/shm").glob(f"{marker}*"))
    assert found["host-a"]["exitcodes"] == [0, 0]
    assert found["host-b"]["exitcodes"] == [0, 0, 0]
    assert found["host-c"]["exitcodes"] == [-signal.SIGKILL]
    assert found["host-b"]["readers"][0]["reads"] > 0
    assert found["host-b"]["readers"][0]["broken"] == 0
    assert partial > 0
    assert handed_over < LEASE + 2.0
    with locked_file(path, "r", lock=url, timeout=30) as handle:
        values = handle["rows"][:]
    for writer in range(4):  # 0 rows lost or duplicated
        mine = values[values // 1_000_000_000 == writer] % 1_000_000_000
        assert np.array_equal(np.sort(mine), np.arange(batches * rows))
        assert np.array_equal(mine, np.arange(batches * rows))  # batches land in order
    killed = values[values // 1_000_000_000 == 9] % 1_000_000_000
    assert len(killed) % big == 0, "part of the killed holder's batch is in the file"
    assert np.array_equal(killed, np.arange(len(killed)))


def test_a_holder_past_its_lease_cannot_write(tmp_path: Path, redis_port: int) -> None:
    import multiprocessing as mp

    from . import lock_workers

    url = f"redis://127.0.0.1:{redis_port}/0?lease=0.5"
    path = tmp_path / "fenced.h5"
    # the default (oldest) format: a writer does not mark the superblock, so the next holder
    # on this host can open the file while the paused one still has it open
    with h5py.File(path, "w") as handle:
        handle.create_dataset("x", data=np.arange(3), maxshape=(None,), chunks=(64,))
    context = mp.get_context("spawn")
    holding, resume, out = context.Event(), context.Event(), context.Queue()
    writer = context.Process(target=lock_workers.paused_writer,
                             args=(str(path), url, holding, resume, out))  # fmt: skip
    writer.start()
    try:
        assert holding.wait(60)
        os.kill(writer.pid, signal.SIGSTOP)  # type: ignore[arg-type]
        began = time.monotonic()
        with locked_file(path, "a", lock=url, timeout=10) as handle:  # gets in after the lease
            assert time.monotonic() - began < 0.5 + 2.0
            handle["x"].resize((5,))
            handle["x"][3:] = [30, 40]
        os.kill(writer.pid, signal.SIGCONT)  # type: ignore[arg-type]
        resume.set()
        assert out.get(timeout=60).startswith("LockLostError: lost the Redis lock")
    finally:
        writer.join(30)
    with locked_file(path, "r", lock=url, timeout=10) as handle:
        assert handle["x"][:].tolist() == [0, 1, 2, 30, 40]  # the late row never landed


def test_a_refused_batch_writes_nothing_and_keeps_its_rows(tmp_path: Path, redis_port: int) -> None:
    url = f"redis://127.0.0.1:{redis_port}/0?lease=5"
    path = tmp_path / "batch.h5"
    server = redis.Redis(port=redis_port)
    with Hdf5Sink(path, "w", sharing="lock", lock=url, flush_interval=3600) as sink:
        sink.extend("x", np.arange(10))
        sink.flush()
        schema = sink._schemas["x"]
        options = dict(sink._options)

        def lease_runs_out(store: object) -> None:  # what the server does when a lease ends
            server.delete(_writer_key(path))

        rows = np.arange(10, 20)
        with pytest.raises(LockLostError, match="server no longer has it"):
            write_batch(path, [(schema, rows)], options, lease_runs_out, create=False)
        with locked_file(path, "r", lock=url) as handle:
            assert handle["x"][:].tolist() == list(range(10))
        write_batch(path, [(schema, rows)], options, create=False)
        assert sink.load("x").tolist() == list(range(20))


def test_the_renewal_thread_lives_only_while_a_lease_is_held(
    tmp_path: Path, redis_port: int
) -> None:
    """A process that forks later (the experiment runner refuses to, with threads around)
    must not keep a thread for leases it gave back."""
    import threading

    from ataraxis_like.hdf5._locks import open_lock

    url = f"redis://127.0.0.1:{redis_port}/0?lease=0.3"
    first, second = open_lock(tmp_path / "a.h5", url), open_lock(tmp_path / "b.h5", url)
    first.acquire(exclusive=True, timeout=5)
    second.acquire(exclusive=False, timeout=5)
    assert "h5lock-renew" in [thread.name for thread in threading.enumerate()]
    time.sleep(0.6)  # two leases long: renewed meanwhile
    first.check()
    first.release()
    assert "h5lock-renew" in [thread.name for thread in threading.enumerate()]
    second.release()
    assert "h5lock-renew" not in [thread.name for thread in threading.enumerate()]


def test_recover_waits_for_the_redis_lock(tmp_path: Path, redis_port: int) -> None:
    from ataraxis_like.errors import LockTimeoutError
    from ataraxis_like.hdf5 import recover
    from ataraxis_like.hdf5._locks import open_lock

    url = f"redis://127.0.0.1:{redis_port}/0?lease=5"
    path = tmp_path / "r.h5"
    with Hdf5Sink(path, "w", sharing="lock", lock=url) as sink:
        sink.extend("x", np.arange(3))
    holder = open_lock(path, url)
    holder.acquire(exclusive=False, timeout=5)
    try:
        with pytest.raises(LockTimeoutError, match="stayed locked in Redis"):
            recover(path, timeout=0.2, lock=url)
    finally:
        holder.release()
    assert recover(path, lock=url).datasets["x"] == (3,)
