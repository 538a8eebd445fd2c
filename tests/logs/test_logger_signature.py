"""DataLogger's constructor as code written for ataraxis-data-structures 3.1 and 4.x calls it.

3.1: ``DataLogger(output_directory, instance_name="data_logger", process_count=1,
thread_count=5, sleep_timer=5000, exist_ok=False)`` and a ``started`` property; 4.x:
``DataLogger(output_directory, instance_name, thread_count=5, poll_interval=5)``. The tuning
arguments of their design are checked and have no effect here (see the class docstring).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from ataraxis_like.errors import AtaraxisError, FileModeError
from ataraxis_like.logs import DataLogger, LoggerInUseError, LoggerSettingError, LogPackage
from ataraxis_like.shm import list_segments
from ataraxis_like.shm._header import LABEL_VARIABLE

from .logged import collect_entries

pytestmark = pytest.mark.timeout(120)


def log_two_entries(logger: DataLogger) -> list[bytes]:
    """Start, put two entries, stop, close; return the payloads found on disk."""
    assert not logger.started
    logger.start()
    assert logger.started
    for stamp in (1, 2):
        logger.input_queue.put(LogPackage(7, stamp, np.full(3, stamp, dtype=np.uint8)))
    logger.stop()
    assert not logger.started
    logger.close()
    per_source, duplicates = collect_entries(logger.output_directory)
    assert duplicates == 0
    assert list(per_source) == [7]
    return [payload for _time, payload in per_source[7]]


def test_the_31_defaults(tmp_path: Path) -> None:
    logger = DataLogger(tmp_path)
    assert logger.name == "data_logger"
    assert logger.output_directory == tmp_path / "data_logger_data_log"
    assert log_two_entries(logger) == [b"\x01" * 3, b"\x02" * 3]


def test_the_31_keywords_and_positional_order(tmp_path: Path) -> None:
    by_keyword = DataLogger(
        output_directory=tmp_path,
        instance_name="kw",
        process_count=2,
        thread_count=10,
        sleep_timer=0,
        exist_ok=True,
    )
    assert log_two_entries(by_keyword) == [b"\x01" * 3, b"\x02" * 3]
    by_position = DataLogger(tmp_path, "pos", 3, 8, 1000, True)
    assert log_two_entries(by_position) == [b"\x01" * 3, b"\x02" * 3]


def test_the_4x_keywords(tmp_path: Path) -> None:
    logger = DataLogger(tmp_path, "four", thread_count=5, poll_interval=10)
    assert log_two_entries(logger) == [b"\x01" * 3, b"\x02" * 3]


def test_started_follows_start_and_stop_across_cycles(tmp_path: Path) -> None:
    logger = DataLogger(tmp_path, "cycle")
    for _ in range(2):
        logger.start()
        assert logger.started
        assert logger.alive
        logger.stop()
        assert not logger.started
        assert not logger.alive
    logger.close()


def test_exist_ok_never_cuts_off_a_live_logger(tmp_path: Path) -> None:
    first = DataLogger(tmp_path)
    first.start()
    second = DataLogger(tmp_path, exist_ok=True)
    try:
        with pytest.raises(LoggerInUseError, match="another live logger"):
            second.start()
        assert first.started
    finally:
        first.close()
        second.close()


@pytest.mark.parametrize(
    ("arguments", "setting"),
    [
        ({"process_count": 0}, "process_count"),
        ({"thread_count": "5"}, "thread_count"),
        ({"sleep_timer": -1}, "sleep_timer"),
        ({"poll_interval": 2.5}, "poll_interval"),
        ({"process_count": True}, "process_count"),
        ({"instance_name": ""}, "instance_name"),
    ],
)
def test_nonsense_tuning_is_refused(
    tmp_path: Path, arguments: dict[str, object], setting: str
) -> None:
    with pytest.raises(LoggerSettingError, match=f"DataLogger {setting} must be") as caught:
        DataLogger(tmp_path, **arguments)  # type: ignore[arg-type]
    assert isinstance(caught.value, ValueError)
    assert isinstance(caught.value, AtaraxisError)
    assert caught.value.setting == setting


@pytest.mark.parametrize("file_mode", ["0600", 0o1777, -1, 6.0])
def test_a_bad_file_mode_is_refused_before_the_queue_exists(
    tmp_path: Path, file_mode: object
) -> None:
    label = os.environ[LABEL_VARIABLE]
    before = {info.name for info in list_segments(label=label)}
    with pytest.raises(FileModeError, match="file_mode must be an int"):
        DataLogger(tmp_path, file_mode=file_mode)  # type: ignore[arg-type]
    made = {info.name for info in list_segments(label=label)} - before
    assert not made, f"a refused DataLogger left its queue behind: {made}"
