"""Which annotations a config accepts, and how the less common ones behave."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, NewType

import numpy as np
import pytest

from ataraxis_like.config import ConfigError, YamlConfig

from .matrix import same

RunId = NewType("RunId", int)


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Shape(enum.Enum):
    BOX = (1, 2)


def round_trip(config: YamlConfig, tmp_path: Path) -> Any:
    path = tmp_path / "config.yaml"
    config.to_yaml(path)
    return type(config).from_yaml(path)


@dataclass
class Node(YamlConfig):
    name: str = "root"
    children: list[Node] = field(default_factory=list)


def test_recursive_dataclass(tmp_path: Path) -> None:
    tree = Node("a", [Node("b", [Node("c")]), Node("d")])
    assert round_trip(tree, tmp_path) == tree


@dataclass(frozen=True)
class Point:
    x: int = 0
    y: int = 0


@dataclass(frozen=True)
class Frozen(YamlConfig):
    run: RunId = RunId(3)
    level: Annotated[int, "units: dB"] = 4
    anything: Any = field(default_factory=lambda: {"a": [1, None, "x"]})
    bare: list = field(default_factory=lambda: [1, "two", 3.0])  # type: ignore[type-arg]
    color: Literal[Color.RED] = Color.RED
    by_name: dict[Literal["x", "y"], int] = field(default_factory=lambda: {"x": 1})
    empty: tuple[()] = ()
    points: frozenset[Point] = field(default_factory=lambda: frozenset({Point(1, 2)}))
    choice: float | int = 3
    computed: int = field(default=0, init=False)


def test_less_common_annotations_round_trip(tmp_path: Path) -> None:
    original = Frozen()
    loaded = round_trip(original, tmp_path)
    assert same(loaded, original)
    assert type(loaded.choice) is int
    assert "computed" not in (tmp_path / "config.yaml").read_text()


def test_union_prefers_an_exact_match_over_widening(tmp_path: Path) -> None:
    loaded = round_trip(Frozen(choice=2.0), tmp_path)
    assert type(loaded.choice) is float


@dataclass
class WithOptionalCamera(YamlConfig):
    camera: Point | None = None


def test_optional_dataclass_reports_the_inner_problem(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("camera:\n  x: 1\n  y: two\n")
    with pytest.raises(ConfigError) as caught:
        WithOptionalCamera.from_yaml(path)
    assert [(p.path, p.line) for p in caught.value.problems] == [("camera.y", 3)]


@pytest.mark.parametrize(
    ("annotation", "message"),
    [
        (complex, "unsupported type complex"),
        (Shape, "not plain scalars"),
        (np.complex64, "complex64 is not supported"),
        (set[list[int]], "must be hashable"),
        (dict[float, int], "dict keys must be"),
        (Literal[1.5], "Literal values"),
        (type, "unsupported type type"),
    ],
)
def test_unsupported_annotation_is_a_type_error_naming_the_field(
    annotation: Any, message: str, tmp_path: Path
) -> None:
    bad = dataclasses.make_dataclass("Bad", [("value", annotation, None)], bases=(YamlConfig,))
    with pytest.raises(TypeError, match=message) as caught:
        bad().to_yaml(tmp_path / "bad.yaml")
    assert "Bad.value" in str(caught.value)


def test_class_must_be_a_dataclass(tmp_path: Path) -> None:
    class NotDataclass(YamlConfig):
        value = 1

    with pytest.raises(TypeError, match="@dataclass"):
        NotDataclass().to_yaml(tmp_path / "x.yaml")


def test_unresolvable_forward_reference_explains_itself(tmp_path: Path) -> None:
    @dataclass
    class Local:
        value: int = 0

    @dataclass
    class Outer(YamlConfig):
        local: Local = field(default_factory=Local)

    with pytest.raises(TypeError, match="module level"):
        Outer().to_yaml(tmp_path / "x.yaml")


def test_bare_ndarray_takes_its_dtype_from_the_default_else_float64(tmp_path: Path) -> None:
    @dataclass
    class Arrays(YamlConfig):
        counts: np.ndarray = field(default_factory=lambda: np.array([1, 2], dtype=np.uint16))
        values: np.ndarray | None = None

    path = tmp_path / "arrays.yaml"
    path.write_text("counts: [3, 4]\nvalues: [1, 2]\n")
    loaded = Arrays.from_yaml(path)
    assert loaded.counts.dtype == np.uint16
    assert loaded.values is not None
    assert loaded.values.dtype == np.float64


def test_numpy_scalars_accept_python_numbers_that_fit(tmp_path: Path) -> None:
    @dataclass
    class Scalars(YamlConfig):
        gain: np.float32 = 0.25  # type: ignore[assignment]
        count: np.uint8 = 7  # type: ignore[assignment]

    loaded = round_trip(Scalars(), tmp_path)
    assert (type(loaded.gain), type(loaded.count)) == (np.float32, np.uint8)
    with pytest.raises(ConfigError, match="uint8 holds 0 to 255"):
        Scalars(count=256).to_yaml(tmp_path / "bad.yaml")  # type: ignore[arg-type]


def test_array_dtype_must_cast_safely_when_saving(tmp_path: Path) -> None:
    @dataclass
    class Arrays(YamlConfig):
        values: np.ndarray[Any, np.dtype[np.int16]] = field(
            default_factory=lambda: np.zeros(2, dtype=np.int16)
        )

    round_trip(Arrays(np.array([1, 2], dtype=np.int8)), tmp_path)
    with pytest.raises(ConfigError, match="astype"):
        Arrays(np.array([1.5])).to_yaml(tmp_path / "bad.yaml")
    with pytest.raises(ConfigError, match="empty axis"):
        Arrays(np.zeros((0, 3), dtype=np.int16)).to_yaml(tmp_path / "bad.yaml")


def test_datetime_offsets_with_seconds_are_refused(tmp_path: Path) -> None:
    @dataclass
    class When(YamlConfig):
        at: dt.datetime = dt.datetime(2024, 1, 1)

    odd = dt.timezone(dt.timedelta(hours=1, seconds=5))
    with pytest.raises(ConfigError, match="whole-minute"):
        When(dt.datetime(2024, 1, 1, tzinfo=odd)).to_yaml(tmp_path / "when.yaml")


class Access(enum.Flag):
    READ = 4
    WRITE = 2


@dataclass
class Permissions(YamlConfig):
    access: Access = Access.READ | Access.WRITE


def test_flag_combinations_are_written_by_value(tmp_path: Path) -> None:
    loaded = round_trip(Permissions(), tmp_path)
    assert loaded.access == Access.READ | Access.WRITE
    assert (tmp_path / "config.yaml").read_text() == "access: 6\n"
