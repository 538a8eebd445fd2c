"""Files the library writes are owner-only (0600) whatever the umask, or the ``file_mode`` the
caller passes; a file that already exists keeps its mode (docs/files.md)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from ataraxis_like.config import YamlConfig
from ataraxis_like.experiment import Experiment, zipped
from ataraxis_like.hdf5 import Hdf5Sink, locked_file
from ataraxis_like.logs import DataLogger, LogPackage, compress_npy_logs
from ataraxis_like.recorder import Recorder

from .experiment import functions

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(autouse=True)
def permissive_umask() -> Iterator[None]:
    """umask 022, the usual default, under which plain open() makes 0644 files."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def _modes(directory: Path) -> dict[str, int]:
    return {
        str(path.relative_to(directory)): stat.S_IMODE(path.stat().st_mode)
        for path in directory.rglob("*")
        if path.is_file()
    }


@dataclass
class Settings(YamlConfig):
    rate: int = 30


def _log_and_compress(directory: Path, **file_mode: int) -> Path:
    with DataLogger(directory, "rig", **file_mode) as logger:
        for index in range(20):
            logger.input_queue.put(LogPackage(1, index, b"payload"))
    log_directory = directory / "rig_data_log"
    compress_npy_logs(log_directory, compress=False, **file_mode)
    return log_directory


def test_every_file_written_is_owner_only_by_default(tmp_path: Path) -> None:
    logs = _log_and_compress(tmp_path / "logs")
    batches = [name for name in _modes(logs) if name.startswith("batch_")]
    assert batches, "the logger wrote no batch file"
    (tmp_path / "sinks").mkdir()
    for sharing in (None, "lock", "queue"):
        with Hdf5Sink(tmp_path / "sinks" / f"{sharing}.h5", "w", sharing=sharing) as sink:
            sink.append("x", 1.0)
    with locked_file(tmp_path / "sinks" / "foreign.h5", "w") as handle:
        handle["x"] = np.arange(3)
    Settings().to_yaml(tmp_path / "config" / "settings.yaml")
    recorder = Recorder(run=1)
    recorder.push(step=1)
    recorder.save(tmp_path / "recorder.h5")
    Experiment("modes", tmp_path / "experiment", defaults={"x": 0, "y": 0},
               exploration=zipped(x=[1])).run(functions.simulate)  # fmt: skip
    modes = _modes(tmp_path)
    expected = {"logs/rig_data_log/1_log.npz", "logs/rig_data_log/.compress.lock",
                "logs/rig_data_log/.logger.lock", "sinks/None.h5", "sinks/None.h5.lock",
                "sinks/lock.h5", "sinks/lock.h5.lock", "sinks/queue.h5", "sinks/queue.h5.lock",
                "sinks/foreign.h5", "sinks/foreign.h5.lock", "config/settings.yaml",
                "recorder.h5", "experiment/results.h5",
                "experiment/logs/run_00000.log"}  # fmt: skip
    assert expected <= set(modes), sorted(expected - set(modes))
    loose = {name: oct(mode) for name, mode in modes.items() if mode != 0o600}
    assert not loose, f"files readable by others: {loose}"


def test_file_mode_is_the_callers_choice(tmp_path: Path) -> None:
    group = {"file_mode": 0o640}
    logs = _log_and_compress(tmp_path / "logs", **group)
    (tmp_path / "sinks").mkdir()
    for sharing in (None, "lock", "queue"):
        with Hdf5Sink(tmp_path / "sinks" / f"{sharing}.h5", "w", sharing=sharing, **group) as sink:
            sink.append("x", 1.0)
    Settings().to_yaml(tmp_path / "settings.yaml", **group)
    modes = {**_modes(logs), **_modes(tmp_path / "sinks")}
    modes["settings.yaml"] = stat.S_IMODE((tmp_path / "settings.yaml").stat().st_mode)
    assert set(modes.values()) == {0o640}, {name: oct(mode) for name, mode in modes.items()}


def test_an_existing_file_keeps_its_mode(tmp_path: Path) -> None:
    path = tmp_path / "settings.yaml"
    Settings().to_yaml(path)
    os.chmod(path, 0o644)
    Settings(rate=60).to_yaml(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    data = tmp_path / "data.h5"
    with Hdf5Sink(data, "w") as sink:
        sink.append("x", 1)
    os.chmod(data, 0o640)
    with Hdf5Sink(data, "a") as sink:
        sink.append("x", 2)
    assert stat.S_IMODE(data.stat().st_mode) == 0o640


@pytest.mark.parametrize("bad", [0o1000, -1, "0600", 6.0, None, True])
def test_a_bad_file_mode_is_refused(tmp_path: Path, bad: object) -> None:
    from ataraxis_like.errors import FileModeError

    with pytest.raises(FileModeError, match="file_mode"):
        Hdf5Sink(tmp_path / "x.h5", "w", file_mode=bad)  # type: ignore[arg-type]
    with pytest.raises(FileModeError):
        Settings().to_yaml(tmp_path / "x.yaml", file_mode=bad)  # type: ignore[arg-type]
    assert not (tmp_path / "x.h5").exists()
