"""Overrides change single values without editing the file, typed and checked like the file."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from ataraxis_like.config import ConfigError, YamlConfig


class Mode(enum.Enum):
    FAST = "fast"
    SLOW = "slow"


@dataclass
class Camera:
    fps: int = 30
    exposure: float = 5.0
    label: str = "cam"


@dataclass
class Paths:
    out: Path = Path("/tmp/out")


@dataclass
class Run(YamlConfig):
    camera: Camera = field(default_factory=lambda: Camera(fps=45))
    paths: Paths = field(default_factory=Paths)
    cameras: list[Camera] = field(default_factory=lambda: [Camera(), Camera()])
    gains: dict[int, float] = field(default_factory=lambda: {1: 0.5})
    mode: Mode = Mode.FAST
    limits: tuple[int, int] = (0, 10)
    note: str | None = None


@pytest.fixture
def saved(tmp_path: Path) -> Path:
    path = tmp_path / "run.yaml"
    Run().to_yaml(path)
    return path


def test_overrides_are_converted_by_the_declared_type(saved: Path) -> None:
    loaded = Run.from_yaml(
        saved,
        overrides=[
            "camera.fps=60",
            "paths.out=/data",
            "camera.exposure=2",
            "camera.label=123",
            "mode=slow",
            "note=yes",
        ],
    )
    assert loaded.camera == Camera(fps=60, exposure=2.0, label="123")
    assert loaded.paths.out == Path("/data")
    assert loaded.mode is Mode.SLOW
    assert loaded.note == "yes"


def test_overrides_reach_list_items_dict_keys_and_tuples(saved: Path) -> None:
    loaded = Run.from_yaml(
        saved, overrides=["cameras.1.fps=7", "gains.2=1.5", "limits.1=99", "cameras=[]"]
    )
    assert loaded.cameras == []
    assert loaded.gains == {1: 0.5, 2: 1.5}
    assert loaded.limits == (0, 99)
    loaded = Run.from_yaml(saved, overrides=["cameras.1.fps=7"])
    assert [camera.fps for camera in loaded.cameras] == [30, 7]


def test_override_of_a_field_missing_from_the_file_starts_from_its_default(
    tmp_path: Path,
) -> None:
    path = tmp_path / "run.yaml"
    path.write_text("mode: fast\n")
    loaded = Run.from_yaml(path, overrides=["camera.exposure=1.5"])
    assert loaded.camera == Camera(fps=45, exposure=1.5)


def test_flow_values_set_whole_containers(saved: Path) -> None:
    loaded = Run.from_yaml(saved, overrides=["gains={3: 1, 4: 2.5}", "note="])
    assert loaded.gains == {3: 1.0, 4: 2.5}
    assert loaded.note is None


@pytest.mark.parametrize(
    ("override", "path", "expected"),
    [
        ("camera.fps=fast", "camera.fps", "int"),
        ("camera.fps=6.5", "camera.fps", "int"),
        ("mode=FAST", "mode", "Mode, one of 'fast', 'slow'"),
        ("camera.fsp=1", "camera.fsp", "a key of Camera"),
        ("nothing=1", "nothing", "a key of Run"),
        ("cameras.5.fps=1", "cameras.5", "an existing list index"),
        ("limits.2=1", "limits.2", "a key of tuple[int, int]"),
        ("camera.fps", "camera.fps", "an override like camera.fps=60"),
        ("gains.x=1", "gains.x", "a key of dict[int, float]"),
    ],
)
def test_bad_override_names_itself(saved: Path, override: str, path: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Run.from_yaml(saved, overrides=[override])
    [problem] = caught.value.problems
    assert (problem.path, problem.line, problem.expected) == (path, None, expected)
    if "=" in override:
        assert f"(override {override!r})" in str(caught.value)


def test_override_problems_come_after_file_problems(tmp_path: Path) -> None:
    path = tmp_path / "run.yaml"
    path.write_text("mode: medium\n")
    with pytest.raises(ConfigError) as caught:
        Run.from_yaml(path, overrides=["camera.fps=x"])
    assert [(p.path, p.line) for p in caught.value.problems] == [("mode", 1), ("camera.fps", None)]


def test_unknown_override_is_refused_even_when_unknown_keys_are_allowed(saved: Path) -> None:
    with pytest.raises(ConfigError, match="did you mean 'fps'"):
        Run.from_yaml(saved, overrides=["camera.fsp=1"], allow_unknown=True)


def test_a_single_string_is_not_taken_for_a_list_of_overrides(saved: Path) -> None:
    with pytest.raises(TypeError, match="list"):
        Run.from_yaml(saved, overrides="camera.fps=60")


def test_an_override_into_a_field_the_file_holds_as_a_list_is_a_problem(tmp_path: Path) -> None:
    """Found by the config fuzz: ``camera`` written as a list made ``camera.fps=1`` compare a
    field name with list indexes (a raw TypeError)."""
    path = tmp_path / "run.yaml"
    path.write_text("camera:\n-\n")
    with pytest.raises(ConfigError) as caught:
        Run.from_yaml(path, overrides=["camera.fps=1"])
    found = [(p.path, p.expected, p.origin) for p in caught.value.problems]
    assert ("camera", "Camera", "override 'camera.fps=1'") in found, found
