"""Every field type of the type matrix saves and loads back with the same value and type."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import yaml

from .matrix import TYPE_CASES, TypeCase, make_module, same, type_case_source

_counter = itertools.count()
IMPORT = "from ataraxis_like.config import YamlConfig"


def load_case(case: TypeCase) -> type:
    module = make_module(type_case_source(case, IMPORT), f"roundtrip_case_{next(_counter)}")
    return module.Config  # type: ignore[no-any-return]


@pytest.mark.parametrize("case", TYPE_CASES, ids=[case.name for case in TYPE_CASES])
def test_type_round_trips_exactly(case: TypeCase, tmp_path: Path) -> None:
    config_class = load_case(case)
    original = config_class()
    path = tmp_path / "config.yaml"
    original.to_yaml(path)
    loaded = config_class.from_yaml(path)
    assert same(original.value, loaded.value), path.read_text()


@pytest.mark.parametrize("case", TYPE_CASES, ids=[case.name for case in TYPE_CASES])
def test_saved_file_is_plain_safe_yaml(case: TypeCase, tmp_path: Path) -> None:
    config_class = load_case(case)
    path = tmp_path / "config.yaml"
    config_class().to_yaml(path)
    text = path.read_text()
    assert "!!python" not in text
    assert isinstance(yaml.safe_load(text), dict)


def test_saving_twice_gives_the_same_bytes(tmp_path: Path) -> None:
    config_class = load_case(TypeCase("set", "set[str]", "{'delta', 'alpha', 'charlie', 'bravo'}"))
    first, second = tmp_path / "a.yaml", tmp_path / "b.yaml"
    config_class().to_yaml(first)
    config_class.from_yaml(first).to_yaml(second)
    assert first.read_bytes() == second.read_bytes()
    assert "[alpha, bravo, charlie, delta]" in first.read_text()
