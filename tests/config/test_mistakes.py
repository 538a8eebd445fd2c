"""Every mistake of the mistake matrix raises one ConfigError naming its path and line."""

from __future__ import annotations

import itertools
import pickle
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from ataraxis_like.config import ConfigError, Problem, YamlConfig
from ataraxis_like.errors import AtaraxisError

from .matrix import MISTAKE_CASES, MistakeCase, class_source, make_module

_counter = itertools.count()


@pytest.mark.parametrize("case", MISTAKE_CASES, ids=[case.name for case in MISTAKE_CASES])
def test_mistake_is_reported_with_path_and_line(case: MistakeCase, tmp_path: Path) -> None:
    source = class_source(case.fields, "from ataraxis_like.config import YamlConfig")
    config_class = make_module(source, f"mistake_case_{next(_counter)}").Config
    path = tmp_path / "config.yaml"
    path.write_text(case.document)
    with pytest.raises(ConfigError) as caught:
        config_class.from_yaml(path)
    problems = caught.value.problems
    assert [(p.path, p.line) for p in problems] == [(case.path, case.line)]
    assert f"{case.path} (line {case.line}): expected " in str(caught.value)


@dataclass
class Camera:
    fps: int = 30
    exposure: float = 5.0


@dataclass
class Rig(YamlConfig):
    name: str = "rig"
    camera: Camera = field(default_factory=Camera)
    gains: list[float] = field(default_factory=lambda: [1.0])


BROKEN = """\
name: 7
camera:
  fps: "60"
  exposure: fast
gains: [1.0, two]
extra: 1
"""


def test_all_problems_are_listed_in_line_order_one_per_line(tmp_path: Path) -> None:
    path = tmp_path / "rig.yaml"
    path.write_text(BROKEN)
    with pytest.raises(ConfigError) as caught:
        Rig.from_yaml(path)
    error = caught.value
    assert [(p.path, p.line) for p in error.problems] == [
        ("name", 1),
        ("camera.fps", 3),
        ("camera.exposure", 4),
        ("gains[1]", 5),
        ("extra", 6),
    ]
    lines = str(error).splitlines()
    assert lines[0] == f"cannot load Rig from {path}: 5 problems"
    assert (
        lines[2] == "  camera.fps (line 3): expected int, got '60' (str); write 60 without quotes"
    )
    assert len(lines) == 6
    assert error.source == str(path)


def test_problem_keeps_its_parts(tmp_path: Path) -> None:
    path = tmp_path / "rig.yaml"
    path.write_text('camera:\n  fps: "60"\n')
    with pytest.raises(ConfigError) as caught:
        Rig.from_yaml(path)
    assert caught.value.problems == [
        Problem("camera.fps", 2, "int", "'60' (str)", "write 60 without quotes")
    ]


def test_config_error_is_a_value_error_and_survives_pickling(tmp_path: Path) -> None:
    path = tmp_path / "rig.yaml"
    path.write_text("name: 7\n")
    with pytest.raises(ValueError, match="name") as caught:
        Rig.from_yaml(path)
    assert isinstance(caught.value, AtaraxisError)
    copy = pickle.loads(pickle.dumps(caught.value))
    assert type(copy) is ConfigError
    assert copy.problems == caught.value.problems
    assert str(copy) == str(caught.value)


def test_unknown_keys_are_accepted_when_asked(tmp_path: Path) -> None:
    path = tmp_path / "rig.yaml"
    path.write_text("name: a\nfuture_field: 1\ncamera:\n  fps: 5\n  new_knob: true\n")
    loaded = Rig.from_yaml(path, allow_unknown=True)
    assert loaded == Rig(name="a", camera=Camera(fps=5))


def test_allow_unknown_still_reports_wrong_types(tmp_path: Path) -> None:
    path = tmp_path / "rig.yaml"
    path.write_text("name: a\nfuture_field: 1\ncamera:\n  fps: five\n")
    with pytest.raises(ConfigError) as caught:
        Rig.from_yaml(path, allow_unknown=True)
    assert [p.path for p in caught.value.problems] == ["camera.fps"]


def test_int_is_widened_to_float_only_when_exact(tmp_path: Path) -> None:
    path = tmp_path / "rig.yaml"
    path.write_text("camera:\n  exposure: 3\n")
    loaded = Rig.from_yaml(path)
    assert loaded.camera.exposure == 3.0
    assert type(loaded.camera.exposure) is float
    path.write_text(f"camera:\n  exposure: {2**53 + 1}\n")
    with pytest.raises(ConfigError, match="cannot hold this int exactly"):
        Rig.from_yaml(path)


def test_post_init_validation_becomes_a_problem(tmp_path: Path) -> None:
    @dataclass
    class Positive(YamlConfig):
        value: int = 1

        def __post_init__(self) -> None:
            if self.value <= 0:
                raise ValueError("value must be positive")

    path = tmp_path / "positive.yaml"
    path.write_text("value: -3\n")
    with pytest.raises(ConfigError) as caught:
        Positive.from_yaml(path)
    [problem] = caught.value.problems
    assert (problem.path, problem.line) == ("<document>", 1)
    assert problem.found == "ValueError: value must be positive"


def test_saving_a_wrong_value_raises_and_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "rig.yaml"
    Rig().to_yaml(path)
    before = path.read_bytes()
    broken = Rig(camera=Camera(fps="60"))  # type: ignore[arg-type]
    with pytest.raises(ConfigError) as caught:
        broken.to_yaml(path)
    assert [(p.path, p.line) for p in caught.value.problems] == [("camera.fps", None)]
    assert "camera.fps: expected int, got '60' (str)" in str(caught.value)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rig.yaml"]


def test_saving_an_ambiguous_union_value_is_refused(tmp_path: Path) -> None:
    @dataclass
    class Ambiguous(YamlConfig):
        where: str | Path = "here"

    Ambiguous().to_yaml(tmp_path / "fine.yaml")
    with pytest.raises(ConfigError, match="would load back as str"):
        Ambiguous(where=Path("there")).to_yaml(tmp_path / "bad.yaml")
