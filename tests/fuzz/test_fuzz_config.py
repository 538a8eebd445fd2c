"""YamlConfig.from_yaml over arbitrary text and to_yaml over arbitrary field values: either a
ConfigError (or another of our errors) or a config that saves and loads back the same."""

from __future__ import annotations

import datetime as dt
import enum
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from ataraxis_like.config import YES_NO, ConfigError, YamlConfig
from ataraxis_like.config._compile import dataclass_spec
from ataraxis_like.config._spec import DumpContext
from ataraxis_like.config._yaml_io import emit

from .strategies import scalars
from .tally import attempt, examples, time_limit

pytestmark = pytest.mark.timeout(time_limit(120))


class Color(enum.Enum):
    RED = "red"
    BLUE = 2


@dataclass
class Inner:
    gain: float = 1.0
    label: str = "x"


@dataclass
class Everything(YamlConfig):
    count: int = 0
    ratio: float = 0.5
    flag: bool = False
    name: str = "n"
    data: bytes = b""
    path: Path = Path("p")
    day: dt.date = dt.date(2020, 1, 1)
    color: Color = Color.RED
    choice: Literal["a", "b", 3] = "a"
    maybe: int | None = None
    either: int | str = 0
    items: list[int] = field(default_factory=list)
    pair: tuple[int, str] = (0, "")
    table: dict[str, float] = field(default_factory=dict)
    tags: frozenset[str] = frozenset()
    inner: Inner = field(default_factory=Inner)
    anything: Any = None
    samples: NDArray[np.float32] = field(default_factory=lambda: np.zeros(2, np.float32))
    small: np.int8 = field(default_factory=lambda: np.int8(0))
    lights: Annotated[bool, YES_NO] = False


FIELDS = list(Everything.__dataclass_fields__)
TOKENS = [
    "010", "0x1F", "1:20", "1_000", "yes", "No", "ON", "~", "null", "true", "1e3", ".inf",
    "-.nan", "2024-05-01", "2024-05-01 12:00:00+01:00", "'quoted'", '"\\x00"', "!!binary AA==",
    "!!python/object/apply:os.system ['true']", "!local x", "&anchor 5", "*anchor", "<<",
    "[1, [2, [3]]]", "{a: 1, b: [2]}", "|\n  block", "? complex", "- item", "---", "...",
    "%YAML 1.1", "\t", "\ufeff", "\x85", "é", "\x00",
]  # fmt: skip

keyed_lines = st.builds(
    lambda key, value: f"{key}: {value}",
    st.sampled_from(FIELDS) | st.text(max_size=6),
    st.sampled_from(TOKENS) | st.text(max_size=12),
)
nested_lines = st.builds(
    lambda key, inner: f"{key}:\n  {inner}",
    st.sampled_from(["inner", "table", "items"]),
    st.sampled_from(["gain: 2", "label: x", "- 1", "a: 1.5", "gain: yes"]),
)
lines = st.one_of(keyed_lines, nested_lines, st.sampled_from(TOKENS), st.text(max_size=20))
documents = st.one_of(
    st.deferred(lambda: edited_documents()),
    st.lists(lines, max_size=8).map("\n".join),
    st.text(max_size=200),
    st.binary(max_size=100),
)


def _text(config: YamlConfig) -> str:
    """What to_yaml writes, without the file (and its two fsyncs)."""
    context = DumpContext()
    plain = dataclass_spec(type(config)).dump(config, (), context)
    if context.problems:
        raise ConfigError.from_problems("cannot save", context.problems)
    return emit(plain, context.docs)


def _load_text(text: str, path: Path) -> Everything:
    path.write_text(text)
    return Everything.from_yaml(path)


@pytest.fixture(scope="module")
def work() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as name:
        yield Path(name)


@settings(max_examples=examples(300), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(document=documents, overrides=st.lists(st.text(max_size=12) | st.sampled_from(
    ["count=010", "lights=on", "inner.gain=yes", "items.0=1", "name=", "tags=[a, a]"]),
    max_size=2))  # fmt: skip
@example(document="inner:\n-", overrides=["inner.gain=yes"])  # found: a raw TypeError
def test_from_yaml_over_any_text(work: Path, document: str | bytes, overrides: list[str]) -> None:
    path = work / "config.yaml"
    if isinstance(document, bytes):
        path.write_bytes(document)
    else:
        path.write_text(document, encoding="utf-8", errors="surrogatepass")
    loaded = None
    with attempt("YamlConfig.from_yaml"):
        loaded = Everything.from_yaml(path, overrides=overrides)
    if loaded is not None:  # what loads saves, and loads back the same
        first = _text(loaded)
        assert _text(_load_text(first, work / "first.yaml")) == first


def _float32(items: list[float]) -> np.ndarray:
    return np.array(items, dtype=np.float32)


valid_values = st.fixed_dictionaries(
    {},
    optional={
        "count": st.integers(),
        "ratio": st.floats(),
        "flag": st.booleans(),
        "name": st.text(),
        "data": st.binary(),
        "path": st.builds(Path, st.text(min_size=1, max_size=8)),
        "day": st.dates(),
        "color": st.sampled_from(list(Color)),
        "choice": st.sampled_from(["a", "b", 3]),
        "maybe": st.none() | st.integers(),
        "either": st.integers() | st.text(),
        "items": st.lists(st.integers(), max_size=3),
        "pair": st.tuples(st.integers(), st.text()),
        "table": st.dictionaries(st.text(max_size=4), st.floats(), max_size=3),
        "tags": st.frozensets(st.text(max_size=3), max_size=3),
        "inner": st.builds(Inner, st.floats(), st.text(max_size=4)),
        "anything": st.none()
        | st.booleans()
        | st.integers()
        | st.floats()
        | st.text(max_size=4)
        | st.lists(st.integers() | st.text(max_size=3), max_size=3),
        "samples": st.lists(st.floats(width=32), max_size=3).map(_float32),
        "small": st.integers(-128, 127).map(np.int8),
        "lights": st.booleans(),
    },
)


@st.composite
def field_values(draw: st.DrawFn) -> dict[str, Any]:
    """Mostly valid fields, with up to two holding whatever a caller might put there."""
    values = draw(valid_values)
    for name in draw(st.lists(st.sampled_from(FIELDS), max_size=2)):
        junk = st.one_of(scalars, st.builds(object), st.lists(scalars, max_size=2), st.dates(),
                         st.datetimes(), st.sampled_from(list(Color)))  # fmt: skip
        values[name] = draw(junk)
    return values


@st.composite
def edited_documents(draw: st.DrawFn) -> str:
    """A saved config with a few lines edited by hand: values, indentation, duplicates."""
    rows = _text(Everything(**draw(valid_values))).splitlines()
    for _ in range(draw(st.integers(0, 3))):
        if not rows:
            break
        at = draw(st.integers(0, len(rows) - 1))
        key, _, _ = rows[at].partition(":")
        edit = draw(st.sampled_from(["value", "indent", "duplicate", "drop"]))
        if edit == "value":
            rows[at] = f"{key}: {draw(st.sampled_from(TOKENS) | st.text(max_size=8))}"
        elif edit == "indent":
            rows[at] = " " * draw(st.integers(1, 3)) + rows[at]
        elif edit == "duplicate":
            rows.insert(at, rows[at])
        else:
            del rows[at]
    return "\n".join(rows) + "\n"


@settings(max_examples=examples(120), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values=field_values())
def test_to_yaml_over_any_values(work: Path, values: dict[str, Any]) -> None:
    config = Everything(**values)
    saved = False
    with attempt("YamlConfig.to_yaml"):
        config.to_yaml(work / "saved.yaml")
        saved = True
    if saved:
        text = (work / "saved.yaml").read_text()
        assert _text(Everything.from_yaml(work / "saved.yaml")) == text
