"""Only safe YAML is read (nothing is ever constructed from a tag) and saves are atomic."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from ataraxis_like.config import ConfigError, YamlConfig


@dataclass
class Plain(YamlConfig):
    name: str = "a"
    values: list[int] = field(default_factory=list)


def load_text(text: str, tmp_path: Path) -> Plain:
    path = tmp_path / "plain.yaml"
    path.write_text(text)
    return Plain.from_yaml(path)


@pytest.mark.parametrize(
    "tag",
    [
        "!!python/object/apply:builtins.open",
        "!!python/object/new:builtins.open",
        "!!python/name:builtins.open",
        "!!python/tuple",
        "!local",
        "!!set",
    ],
)
def test_tags_are_refused_and_never_constructed(tag: str, tmp_path: Path) -> None:
    marker = tmp_path / "created-by-yaml"
    with pytest.raises(ConfigError) as caught:
        load_text(f"name: a\nvalues: {tag} ['{marker}', 'w']\n", tmp_path)
    [problem] = caught.value.problems
    assert (problem.path, problem.line) == ("values", 2)
    assert problem.found.startswith("the tag ")
    assert not marker.exists()


def test_tag_on_a_mapping_key_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="plain scalar key"):
        load_text("? !!python/tuple [a, b]\n: 1\n", tmp_path)


def test_anchors_and_merge_keys_work_and_keep_lines(tmp_path: Path) -> None:
    @dataclass
    class Pair(YamlConfig):
        left: dict[str, int] = field(default_factory=dict)
        right: dict[str, int] = field(default_factory=dict)

    path = tmp_path / "pair.yaml"
    path.write_text("left: &base\n  a: 1\n  b: 2\nright:\n  <<: *base\n  b: 3\n")
    assert Pair.from_yaml(path) == Pair({"a": 1, "b": 2}, {"a": 1, "b": 3})
    path.write_text("left: &base\n  a: 1\n  b: x\nright:\n  <<: *base\n")
    with pytest.raises(ConfigError) as caught:
        Pair.from_yaml(path)
    assert {(p.path, p.line) for p in caught.value.problems} == {("left.b", 3), ("right.b", 3)}


def test_recursive_alias_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="alias that contains itself"):
        load_text("values: &loop [1, *loop]\n", tmp_path)


def test_alias_bomb_is_refused_quickly(tmp_path: Path) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    start = time.monotonic()
    with pytest.raises(ConfigError, match="aliases that repeat over 100,000 values"):
        load_text("\n".join(lines) + "\n", tmp_path)
    assert time.monotonic() - start < 5


def test_non_utf8_file_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "plain.yaml"
    path.write_bytes(b"name: a\nvalues: [1]\n# caf\xe9\n")
    with pytest.raises(ConfigError) as caught:
        Plain.from_yaml(path)
    [problem] = caught.value.problems
    assert (problem.line, problem.expected) == (3, "UTF-8 text")


def test_utf8_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "plain.yaml"
    path.write_bytes("\ufeffname: é\n".encode())
    assert Plain.from_yaml(path).name == "é"


def test_missing_file_is_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        Plain.from_yaml(tmp_path / "absent.yaml")


def test_save_creates_parents_and_leaves_no_temporary_files(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "plain.yaml"
    Plain(values=[1]).to_yaml(path)
    Plain(values=[2]).to_yaml(path)
    assert Plain.from_yaml(path).values == [2]
    assert [p.name for p in path.parent.iterdir()] == ["plain.yaml"]


def test_save_keeps_the_permissions_of_the_file_it_replaces(tmp_path: Path) -> None:
    path = tmp_path / "plain.yaml"
    Plain().to_yaml(path)
    path.chmod(0o640)
    Plain(name="b").to_yaml(path)
    assert path.stat().st_mode & 0o777 == 0o640


def test_failed_save_keeps_the_old_file_and_removes_the_temporary(tmp_path: Path) -> None:
    target = tmp_path / "taken"
    target.mkdir()
    (target / "inside").write_text("x")
    with pytest.raises(IsADirectoryError):
        Plain().to_yaml(target)
    assert (target / "inside").read_text() == "x"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]


@dataclass
class Big(YamlConfig):
    generation: int = 0
    payload: list[str] = field(default_factory=list)


WRITER = """
import sys
from tests.config.test_safety import Big

generation = 0
while True:
    generation += 1
    Big(generation, [f"{generation}-{i}" * 20 for i in range(2000)]).to_yaml(sys.argv[1])
    if generation == 1:
        print("ready", flush=True)
"""


def test_killed_writer_never_leaves_a_half_written_config(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    root = Path(__file__).resolve().parents[2]
    kills = 3
    for delay in (0.05, 0.13, 0.21)[:kills]:
        process = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True, cwd=root
        )
        assert process.stdout is not None
        assert process.stdout.readline() == "ready\n"
        time.sleep(delay)
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        loaded = Big.from_yaml(path)
        expected = [f"{loaded.generation}-{i}" * 20 for i in range(2000)]
        assert loaded.payload == expected
    leftovers = [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert len(leftovers) <= kills


def test_unprintable_character_names_its_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_text("name: a\nvalues: [1]\nname2: \x07\n", tmp_path)
    [problem] = caught.value.problems
    assert (problem.path, problem.line, problem.expected) == ("<document>", 3, "printable text")
