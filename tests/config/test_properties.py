"""Property-based tests: random nested dataclasses and values round-trip, and mistakes are found."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import itertools
import tempfile
from pathlib import Path
from typing import Any, Literal, Optional, Union

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ataraxis_like.config import ConfigError, Problem, YamlConfig
from ataraxis_like.config._yaml_io import emit

from .matrix import same

SETTINGS = settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
_names = itertools.count()


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


@dataclasses.dataclass(frozen=True)
class Kind:
    """A field type, values of it, and plain YAML data it never accepts."""

    annotation: Any
    values: st.SearchStrategy[Any]
    wrong: Any
    hashable: bool = False


offsets = st.integers(-14 * 60, 14 * 60).map(lambda m: dt.timezone(dt.timedelta(minutes=m)))
small_shapes = hnp.array_shapes(min_dims=1, max_dims=2, min_side=1, max_side=3)
LEAVES = [
    Kind(int, st.integers(), "x", True),
    Kind(float, st.floats(), "x"),
    Kind(bool, st.booleans(), "x", True),
    Kind(str, st.text(max_size=20), 5, True),
    Kind(bytes, st.binary(max_size=12), "x", True),
    Kind(Path, st.text(min_size=1, max_size=12).filter(lambda s: "\0" not in s).map(Path), 5),
    Kind(dt.datetime, st.datetimes(timezones=st.none() | offsets), "x", True),
    Kind(dt.date, st.dates(), "x", True),
    Kind(Color, st.sampled_from(Color), "purple", True),
    Kind(Level, st.sampled_from(Level), 99, True),
    Kind(Literal["a", "b"], st.sampled_from(["a", "b"]), "c", True),
    Kind(Union[int, str], st.integers() | st.text(max_size=8), [1], True),  # noqa: UP007
    Kind(np.float32, st.floats(width=32).map(np.float32), "x"),
    Kind(np.int16, st.integers(-(2**15), 2**15 - 1).map(np.int16), 40000),
    Kind(np.ndarray[Any, np.dtype[np.float64]], hnp.arrays(np.float64, small_shapes), "x"),
    Kind(np.ndarray[Any, np.dtype[np.int32]], hnp.arrays(np.int32, small_shapes), "x"),
]


def _containers(inner: st.SearchStrategy[Kind]) -> st.SearchStrategy[Kind]:
    def build(kind: Kind, shape: str) -> Kind:
        ann, values = kind.annotation, kind.values
        if shape == "list":
            return Kind(list[ann], st.lists(values, max_size=3), "x")  # type: ignore[valid-type]
        if shape == "tuple":
            return Kind(tuple[ann, ...], st.lists(values, max_size=3).map(tuple), "x")  # type: ignore[valid-type]
        if shape == "pair":
            return Kind(tuple[ann, int], st.tuples(values, st.integers()), "x")  # type: ignore[valid-type]
        if shape == "dict":
            keys = st.text(max_size=140)
            return Kind(dict[str, ann], st.dictionaries(keys, values, max_size=3), "x")  # type: ignore[valid-type]
        if shape == "intdict":
            return Kind(dict[int, ann], st.dictionaries(st.integers(), values, max_size=3), "x")  # type: ignore[valid-type]
        if shape == "set" and kind.hashable:
            return Kind(set[ann], st.sets(values, max_size=3), "x")  # type: ignore[valid-type]
        return Kind(Optional[ann], st.none() | values, kind.wrong)  # noqa: UP045

    shapes = st.sampled_from(["list", "tuple", "pair", "dict", "intdict", "set", "optional"])
    return st.tuples(inner, shapes).map(lambda pair: build(*pair)) | _dataclasses(inner)


def _dataclasses(inner: st.SearchStrategy[Kind]) -> st.SearchStrategy[Kind]:
    def build(kinds: list[Kind]) -> Kind:
        fields = [(f"f{i}", kind.annotation) for i, kind in enumerate(kinds)]
        cls = dataclasses.make_dataclass(f"Gen{next(_names)}", fields)
        values = st.builds(cls, **{f"f{i}": kind.values for i, kind in enumerate(kinds)})
        return Kind(cls, values, "x")

    return st.lists(inner, min_size=1, max_size=3).map(build)


kinds = st.recursive(st.sampled_from(LEAVES), _containers, max_leaves=6)


@st.composite
def configs(draw: st.DrawFn) -> tuple[YamlConfig, list[Kind]]:
    """A random YamlConfig subclass and an instance of it."""
    fields = draw(st.lists(kinds, min_size=1, max_size=4))
    cls = dataclasses.make_dataclass(
        f"Config{next(_names)}",
        [(f"f{i}", kind.annotation) for i, kind in enumerate(fields)],
        bases=(YamlConfig,),
    )
    values = {f"f{i}": draw(kind.values) for i, kind in enumerate(fields)}
    return cls(**values), fields


@SETTINGS
@given(configs())
def test_random_configs_round_trip_exactly(tmp_path: Path, drawn: tuple[Any, list[Kind]]) -> None:
    config, _ = drawn
    path = tmp_path / "config.yaml"
    config.to_yaml(path)
    loaded = type(config).from_yaml(path)
    assert same(config, loaded), path.read_text()


@SETTINGS
@given(configs(), st.data())
def test_a_wrong_value_is_reported_at_its_field_and_line(
    tmp_path: Path, drawn: tuple[Any, list[Kind]], data: st.DataObject
) -> None:
    config, fields = drawn
    index = data.draw(st.integers(0, len(fields) - 1))
    path = tmp_path / "config.yaml"
    config.to_yaml(path)
    document = yaml.safe_load(path.read_text())
    document[f"f{index}"] = fields[index].wrong
    text = emit(document, {})
    path.write_text(text)
    root = yaml.compose(text)
    line = next(k.start_mark.line + 1 for k, _ in root.value if k.value == f"f{index}")
    with pytest.raises(ConfigError) as caught:
        type(config).from_yaml(path)
    assert [(p.path, p.line) for p in caught.value.problems] == [(f"f{index}", line)]


@settings(max_examples=150, deadline=None)
@given(st.text(), st.dictionaries(st.text(), st.text(), max_size=4))
def test_any_text_round_trips_as_value_and_key(value: str, mapping: dict[str, str]) -> None:
    @dataclasses.dataclass
    class Texts(YamlConfig):
        value: str
        mapping: dict[str, str]

    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "texts.yaml"
        Texts(value, mapping).to_yaml(path)
        loaded = Texts.from_yaml(path)
    assert loaded.value == value
    assert list(loaded.mapping.items()) == list(mapping.items())


@dataclasses.dataclass
class Target(YamlConfig):
    name: str = "a"
    fps: int = 30
    gains: list[float] = dataclasses.field(default_factory=list)
    nested: dict[str, int] = dataclasses.field(default_factory=dict)


yamlish = st.lists(
    st.sampled_from(
        [
            "name",
            "fps",
            "gains",
            "nested",
            ":",
            " ",
            "\n",
            "  ",
            "- ",
            "[",
            "]",
            "{",
            "}",
            ",",
            "&a",
            "*a",
            "<<",
            "!!python/object:os.system",
            "!x",
            "'",
            '"',
            "|",
            ">",
            "#",
            "?",
            "---",
            "...",
            "1",
            "2.5",
            "yes",
            "null",
            "~",
            "é",
            "\t",
            "%YAML 1.1",
            "!!binary",
        ]
    )
    | st.text(max_size=3),
    max_size=30,
).map("".join)


@settings(max_examples=300, deadline=None)
@given(yamlish)
def test_any_text_either_loads_or_raises_config_error(text: str) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "fuzz.yaml"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        try:
            Target.from_yaml(path)
        except ConfigError as error:
            problems = error.problems
        else:
            problems = [Problem("", 1, "", "")]
    assert problems
    assert all(p.line is None or p.line >= 1 for p in problems)
