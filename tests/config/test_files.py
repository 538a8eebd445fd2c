"""Saved files are friendly: field order, doc comments, block style, quotes where needed."""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
import yaml

from ataraxis_like.config import ConfigError, YamlConfig

from .matrix import same


class Binning(enum.IntEnum):
    NONE = 1
    TWO = 2


@dataclass
class Camera:
    fps: int = field(default=30, metadata={"doc": "Frames per second."})
    binning: Binning = Binning.NONE


@dataclass
class Session(YamlConfig):
    animal: str = field(default="no", metadata={"doc": "Animal ID as on the cage card."})
    output: Path = field(default=Path("/data/out"), metadata={"doc": "Where runs go.\nCreated."})
    camera: Camera = field(default_factory=Camera)
    cameras: list[Camera] = field(default_factory=lambda: [Camera(fps=60)])
    start: dt.datetime = dt.datetime(2024, 5, 1, 9, 30)
    gains: npt.NDArray[np.float32] = field(
        default_factory=lambda: np.array([[0.5, 1.5], [2.5, 0.1]], dtype=np.float32)
    )
    notes: str = "first line\nsecond line"


EXPECTED = """\
# Animal ID as on the cage card.
animal: 'no'
# Where runs go.
# Created.
output: /data/out
camera:
  # Frames per second.
  fps: 30
  binning: 1
cameras:
  - fps: 60
    binning: 1
start: 2024-05-01 09:30:00
gains:
  - [0.5, 1.5]
  - [2.5, 0.1]
notes: |-
  first line
  second line
"""


def test_saved_file_reads_like_a_hand_written_one(tmp_path: Path) -> None:
    path = tmp_path / "session.yaml"
    Session().to_yaml(path)
    assert path.read_text() == EXPECTED
    assert same(Session.from_yaml(path), Session())


@pytest.mark.parametrize(
    "text",
    [
        "yes",
        "No",
        "on",
        "OFF",
        "null",
        "~",
        "true",
        "1e3",
        "0o17",
        "0x1F",
        ".5",
        "-1",
        "+2",
        "1_000",
        "12:30",
        "2024-01-01",
        ".inf",
        ".NaN",
        "=",
        "<<",
        "",
        " padded ",
    ],
)
def test_strings_any_yaml_reader_could_misread_are_quoted(text: str, tmp_path: Path) -> None:
    @dataclass
    class Text(YamlConfig):
        value: str = ""

    path = tmp_path / "text.yaml"
    Text(text).to_yaml(path)
    written = path.read_text()
    assert written.startswith(("value: '", 'value: "')), written
    assert yaml.safe_load(written) == {"value": text}
    assert Text.from_yaml(path).value == text


def test_keys_named_like_yaml_words_are_field_names(tmp_path: Path) -> None:
    @dataclass
    class Switches(YamlConfig):
        on: bool = False
        no: int = 0

    path = tmp_path / "switches.yaml"
    path.write_text("on: true\nno: 3\n")
    assert Switches.from_yaml(path) == Switches(on=True, no=3)
    Switches(on=True, no=3).to_yaml(path)
    assert Switches.from_yaml(path) == Switches(on=True, no=3)


def test_file_from_an_older_class_fills_new_fields_from_defaults(tmp_path: Path) -> None:
    @dataclass
    class Version1(YamlConfig):
        fps: int = 30

    @dataclass
    class Version2(YamlConfig):
        fps: int = 30
        camera: Camera = field(default_factory=lambda: Camera(fps=90))
        tags: list[str] = field(default_factory=lambda: ["new"])

    path = tmp_path / "config.yaml"
    Version1(fps=12).to_yaml(path)
    assert Version2.from_yaml(path) == Version2(fps=12)
    path.write_text("fps: 12\ncamera:\n  binning: 2\n")
    assert Version2.from_yaml(path).camera == Camera(fps=30, binning=Binning.TWO)


def test_file_with_a_field_the_class_dropped_needs_allow_unknown(tmp_path: Path) -> None:
    @dataclass
    class Small(YamlConfig):
        fps: int = 30

    path = tmp_path / "config.yaml"
    Session().to_yaml(path)
    with pytest.raises(ConfigError) as caught:
        Small.from_yaml(path)
    assert [p.path for p in caught.value.problems][:2] == ["animal", "output"]
    assert Small.from_yaml(path, allow_unknown=True) == Small()


def test_empty_config_writes_an_empty_mapping(tmp_path: Path) -> None:
    @dataclass
    class Empty(YamlConfig):
        pass

    path = tmp_path / "empty.yaml"
    Empty().to_yaml(path)
    assert path.read_text() == "{}\n"
    assert Empty.from_yaml(path) == Empty()
