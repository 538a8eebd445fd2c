"""Limits and misuse: many keys, full shared tables, missing or deleted files, a full disk,
and two writers on one file. Each failure is one line of a typed error."""

from __future__ import annotations

import multiprocessing as mp
import resource
import subprocess
import sys
import textwrap
from pathlib import Path

import h5py
import numpy as np
import pytest

from ataraxis_like.hdf5 import (
    Hdf5Sink,
    SinkCapacityError,
    SinkError,
    SinkInUseError,
    SinkKeyError,
    SinkWriteError,
    open_sink,
)
from ataraxis_like.hdf5._registry import Registry
from ataraxis_like.hdf5._schema import schema_for_row

from . import workers

pytestmark = pytest.mark.timeout(90)


def _one_line(error: BaseException) -> str:
    text = str(error)
    assert "\n" not in text, text
    return text


@pytest.mark.timeout(60)
def test_100k_keys_register_in_linear_time() -> None:
    """With a scan of all keys per new key this would take hours; linear: about a second."""
    registry = Registry.create(16 << 20)
    try:
        for index in range(100_000):
            registry.register(schema_for_row(f"g{index % 100}/k{index}/value", 1.0))
        other = Registry(registry.array)  # another process's view reads every entry once
        assert other.lookup("g5/k99905/value") is not None
        assert len(other.by_key) == 100_000
        for key, clash in (("g5", "g5/k5/value"), ("g5/k5/value/deeper", "g5/k5/value"),
                           ("g5/k5", "g5/k5/value")):  # fmt: skip
            with pytest.raises(SinkKeyError, match=f"{key!r} clashes with key {clash!r}"):
                other.register(schema_for_row(key, 1.0))
        assert other.is_group("g7/k7")
        assert not other.is_group("g7/k7/value")
    finally:
        registry.array.destroy()


def _append_until_full(sink: Hdf5Sink) -> tuple[int, pytest.ExceptionInfo[SinkCapacityError]]:
    """Append to new keys until the registry refuses one; return its number and the error."""
    for index in range(1000):
        try:
            sink.append(f"key/{index}", index)
        except SinkCapacityError:
            with pytest.raises(SinkCapacityError) as caught:
                sink.append(f"key/{index}", index)  # the same key is refused again
            return index, caught
    raise AssertionError("the registry never filled")


def test_a_full_registry_names_the_key_and_the_option(h5_path: Path) -> None:
    with Hdf5Sink(h5_path, "w", sharing="queue", registry_bytes=2048) as sink:
        registered, caught = _append_until_full(sink)
        message = _one_line(caught.value)
        assert f"'key/{registered}'" in message
        assert "registry_bytes" in message
        assert 5 < registered < 1000
        context = mp.get_context("fork")
        out = context.Queue()
        long_key = "more/" + "x" * 100  # longer than the entry that did not fit
        child = context.Process(target=workers.append_and_report, args=(sink.client(), long_key,
                                                                        out))  # fmt: skip
        child.start()
        error = out.get(timeout=30)
        child.join(30)
        assert isinstance(error, SinkCapacityError)
        assert "'more/x" in str(error)
        sink.append("key/0", 7)  # keys registered before still take rows
        sink.flush()
    with open_sink(h5_path) as reader:
        assert reader.load("key/0").tolist() == [0, 7]
        keys = [key for key in reader.keys() if key.startswith("key/")]  # noqa: SIM118
        assert len(keys) == registered


def test_a_file_with_more_keys_than_the_registry_is_refused_at_open(h5_path: Path) -> None:
    with Hdf5Sink(h5_path, "w") as sink:
        for index in range(200):
            sink.append(f"k{index}", index)
    with pytest.raises(SinkCapacityError, match="larger registry_bytes"):
        Hdf5Sink(h5_path, "a", sharing="queue", registry_bytes=1024, lock_timeout=1)
    with Hdf5Sink(h5_path, "a", sharing="queue", lock_timeout=1) as sink:  # nothing left locked
        sink.append("k3", 30)
        sink.flush()
        assert sink.load("k3").tolist() == [3, 30]


def test_client_processes_beyond_max_clients_are_refused(h5_path: Path) -> None:
    with Hdf5Sink(h5_path, "w", sharing="queue", max_clients=1) as sink:
        sink.append("x", 1)
        context = mp.get_context("fork")
        out = context.Queue()
        child = context.Process(target=workers.append_and_report, args=(sink.client(), "y", out))
        child.start()
        error = out.get(timeout=30)
        child.join(30)
        assert isinstance(error, SinkCapacityError)
        assert "max_clients" in _one_line(error)


def test_keys_clash_across_processes(h5_path: Path) -> None:
    with Hdf5Sink(h5_path, "w", sharing="queue") as sink:
        context = mp.get_context("spawn")
        out = context.Queue()
        child = context.Process(target=workers.append_and_report, args=(sink.client(), "a/b", out))
        child.start()
        assert out.get(timeout=60) is None
        child.join(30)
        for key in ("a", "a/b/c"):
            with pytest.raises(SinkKeyError, match="clashes with key 'a/b'"):
                sink.append(key, 1.0)
        with pytest.raises(SinkKeyError, match="not known yet"):
            sink.set_attrs("z", units="s")
        sink.set_attrs("a", units="s")  # a group that holds keys takes attributes
    with h5py.File(h5_path, "r") as handle:
        assert dict(handle["a"].attrs) == {"units": "s"}


@pytest.mark.parametrize("sharing", [None, "queue", "lock"])
def test_a_missing_directory_is_refused(tmp_path: Path, sharing: str | None) -> None:
    path = tmp_path / "missing" / "data.h5"
    with pytest.raises(SinkWriteError, match="does not exist; create it first") as caught:
        Hdf5Sink(path, "a", sharing=sharing)
    assert isinstance(caught.value, OSError)
    _one_line(caught.value)
    assert not path.parent.exists()


@pytest.mark.parametrize("sharing", [None, "queue", "lock"])
def test_a_file_deleted_while_open_is_reported(tmp_path: Path, sharing: str | None) -> None:
    """On Linux a deleted file takes writes silently; the sink must not."""
    directory = tmp_path / "session"
    directory.mkdir()
    sink = Hdf5Sink(directory / "data.h5", "w", sharing=sharing)
    sink.append("rows", 1)
    sink.flush()
    for child in directory.iterdir():
        child.unlink()
    directory.rmdir()
    sink.append("rows", 2)
    expected = SinkError if sharing == "queue" else SinkWriteError
    with pytest.raises(expected) as caught:
        sink.flush()
    message = _one_line(caught.value)
    assert "deleted" in message or "does not exist" in message
    with pytest.raises((SinkError, SinkWriteError)):
        sink.close()
    assert not directory.exists()


_FULL_SCRIPT = """
import resource, signal
import numpy as np
from ataraxis_like.hdf5 import Hdf5Sink
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))
sink = Hdf5Sink({path!r}, "w")
try:
    for _ in range(400):
        sink.append("rows", np.zeros(1024))
    sink.flush()
    print("no error")
except Exception as error:
    print(type(error).__name__, isinstance(error, OSError), error)
try:
    sink.close()
except Exception as error:
    print(type(error).__name__, error)
"""


def test_a_full_disk_is_reported_by_a_local_sink(h5_path: Path) -> None:
    """A 1 MiB file size limit stands in for a full disk (EFBIG instead of ENOSPC)."""
    script = textwrap.dedent(_FULL_SCRIPT).format(path=str(h5_path))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60, check=False)  # fmt: skip
    lines = done.stdout.splitlines()
    assert len(lines) == 2, done.stdout + done.stderr
    assert lines[0].startswith("SinkWriteError True cannot write sink file"), lines[0]
    assert "File too large" in lines[0]
    assert "free space" in lines[0]
    assert lines[1].startswith("SinkWriteError"), lines[1]


def test_a_full_disk_is_reported_by_the_queue_writer(h5_path: Path) -> None:
    sink = Hdf5Sink(h5_path, "w", sharing="queue")
    sink.append("rows", 0.0)
    sink.flush()
    pid = sink.writer_pid
    assert pid is not None
    limit = h5_path.stat().st_size + (256 << 10)
    resource.prlimit(pid, resource.RLIMIT_FSIZE, (limit, limit))
    sink.extend("rows", np.zeros(1 << 18))
    with pytest.raises(SinkError, match="cannot write") as caught:
        sink.flush()
    assert "File too large" in _one_line(caught.value)
    with pytest.raises(SinkError, match="never written"):
        sink.close()
    with open_sink(h5_path) as reader:
        assert reader.load("rows").tolist() == [0.0]


@pytest.mark.parametrize(("first", "second"), [(None, "queue"), ("queue", None),
                                               ("queue", "queue"), (None, "lock")])  # fmt: skip
def test_two_sinks_on_one_file_are_refused(
    h5_path: Path, first: str | None, second: str | None
) -> None:
    with Hdf5Sink(h5_path, "w", sharing=first) as sink:
        sink.append("x", 1)
        with pytest.raises(SinkInUseError) as caught:
            Hdf5Sink(h5_path, "a", sharing=second, lock_timeout=0.2)
        assert isinstance(caught.value, FileExistsError)
        assert str(h5_path) in _one_line(caught.value)
    with h5py.File(h5_path, "r") as handle:
        assert handle["x"][:].tolist() == [1]


def test_a_second_sink_in_another_process_is_refused(h5_path: Path) -> None:
    with Hdf5Sink(h5_path, "w", sharing="queue") as sink:
        sink.append("x", 1)
        context = mp.get_context("spawn")
        out = context.Queue()
        child = context.Process(target=workers.open_sink_and_report, args=(str(h5_path), out))
        child.start()
        error = out.get(timeout=60)
        child.join(30)
        assert isinstance(error, SinkInUseError), error
        assert "one writer per file" in _one_line(error)
