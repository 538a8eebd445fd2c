"""Files that are not what a config should be: forms YAML readers disagree on, deep nesting,
huge files and paths that are not regular files. Each gives a ConfigError, quickly."""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import pytest

import ataraxis_like.config as config_package
from ataraxis_like.config import ConfigError, YamlConfig
from ataraxis_like.errors import AtaraxisError

pytestmark = pytest.mark.timeout(60)


@dataclass
class Rig(YamlConfig):
    count: int = 0
    gain: float = 1.0
    flag: bool = False
    label: str = ""
    extra: Any = None
    table: dict[int, str] = field(default_factory=dict)


def _load(tmp_path: Path, text: str, **options: Any) -> Rig:
    path = tmp_path / "rig.yaml"
    path.write_text(text)
    return Rig.from_yaml(path, **options)


@pytest.mark.parametrize(
    ("line", "hint"),
    [
        ("count: 010", "8"),  # octal in YAML 1.1, 10 in YAML 1.2
        ("count: 1:20", "80"),  # base 60 in YAML 1.1, a string in YAML 1.2
        ("count: 0x1F", "31"),
        ("count: 0b101", "5"),
        ("count: 1_000", "1000"),
        ("gain: 1_0.5", "10.5"),
        ("gain: 1:20.5", "80.5"),
        ("flag: yes", "true or false"),
        ("flag: off", "true or false"),
        ("extra: On", "true or false"),
        ("extra: 010", "8"),
        ("label: no", "quote it: 'no'"),
        ("label: 0755", "quote it: '0755'"),
    ],
)
def test_forms_yaml_readers_disagree_on_are_refused(tmp_path: Path, line: str, hint: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, line + "\n")
    [problem] = caught.value.problems
    assert problem.line == 1
    assert problem.path == line.split(":")[0]
    assert hint in problem.hint, problem


def test_one_written_form_per_type_still_loads(tmp_path: Path) -> None:
    rig = _load(tmp_path, "count: -12\ngain: 2.5e-3\nflag: true\nlabel: '010'\nextra: 10\n")
    assert (rig.count, rig.gain, rig.flag, rig.label, rig.extra) == (-12, 2.5e-3, True, "010", 10)
    assert _load(tmp_path, "gain: 3\ncount: +7\nflag: False\n").gain == 3.0


@dataclass
class Lights(YamlConfig):
    count: int = 0
    switch: Annotated[bool, config_package.YES_NO] = False


@dataclass
class Wrong(YamlConfig):
    count: Annotated[int, config_package.YES_NO] = 0


def test_a_field_declared_yes_no_reads_the_words(tmp_path: Path) -> None:
    path = tmp_path / "lights.yaml"
    for text, expected in (("switch: yes", True), ("switch: OFF", False), ("switch: true", True)):
        path.write_text(text + "\n")
        assert Lights.from_yaml(path).switch is expected
    path.write_text("count: 1\n")
    assert Lights.from_yaml(path, overrides=["switch=on"]).switch is True
    path.write_text("switch: 'yes'\n")
    with pytest.raises(ConfigError, match="switch"):
        Lights.from_yaml(path)
    Lights(switch=True).to_yaml(path)
    assert "switch: true" in path.read_text()
    with pytest.raises(TypeError, match="YES_NO marks bool fields only"):
        Wrong.from_yaml(path)


def test_overrides_follow_the_same_rule(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="count"):
        _load(tmp_path, "count: 1\n", overrides=["count=010"])
    assert _load(tmp_path, "count: 1\n", overrides=["label=010"]).label == "010"


def test_ambiguous_mapping_keys_are_refused(tmp_path: Path) -> None:
    assert _load(tmp_path, "table: {8: a, 10: b}\n").table == {8: "a", 10: "b"}
    with pytest.raises(ConfigError, match="010"):
        _load(tmp_path, "table: {010: a}\n")


def test_deep_nesting_is_refused_with_a_clear_error(tmp_path: Path) -> None:
    for text in ("extra: " + "[" * 1000 + "]" * 1000 + "\n",
                 "extra:\n" + "".join(" " * depth + "- \n" for depth in range(1000))):  # fmt: skip
        with pytest.raises(ConfigError, match="levels of nesting"):
            _load(tmp_path, text)
    nested = "extra: " + "[" * 50 + "]" * 50 + "\n"
    assert _load(tmp_path, nested).extra is not None


def test_a_huge_file_is_refused_before_parsing(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    with path.open("w") as handle:
        handle.write("extra:\n")
        line = "  - " + "1" * 60 + "\n"
        handle.write(line * (40_000_000 // len(line)))
    started = time.monotonic()
    with pytest.raises(ConfigError, match="max_bytes") as caught:
        Rig.from_yaml(path)
    assert time.monotonic() - started < 2.0
    assert caught.value.problems[0].path == "<document>"
    small = tmp_path / "small.yaml"
    small.write_text("count: 3\n" + "# padding\n" * 100)
    with pytest.raises(ConfigError, match="max_bytes"):
        Rig.from_yaml(small, max_bytes=100)
    assert Rig.from_yaml(small, max_bytes=10_000).count == 3


def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "config.yaml"
    os.mkfifo(fifo)
    outcome: list[BaseException | None] = []

    def load() -> None:
        try:
            Rig.from_yaml(fifo)
            outcome.append(None)
        except BaseException as error:
            outcome.append(error)

    thread = threading.Thread(target=load, daemon=True)
    thread.start()
    thread.join(5)
    if thread.is_alive():  # unblock the reader so the test process can end
        descriptor = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        os.close(descriptor)
        thread.join(5)
        pytest.fail("from_yaml blocked on a FIFO")
    [error] = outcome
    assert isinstance(error, ConfigError)
    assert "regular file" in str(error)


def test_a_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="regular file"):
        Rig.from_yaml(tmp_path)


def test_missing_file_is_a_typed_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError) as caught:
        Rig.from_yaml(tmp_path / "missing.yaml")
    assert isinstance(caught.value, AtaraxisError)
