"""The type matrix and the mistake matrix, shared by the tests and benchmarks/config_compare.py.

Cases are source text, not objects, so the comparison script can run the very same cases against
the reference library inside its own virtual environment. This module needs only the standard
library and numpy; the YamlConfig under test is named by an import line.
"""

from __future__ import annotations

import datetime as dt
import math
import sys
import types
from dataclasses import dataclass
from typing import Any

import numpy as np

PRELUDE = """
import datetime as dt
import enum
import pathlib
from dataclasses import dataclass, field
from typing import Any, Literal, Optional, Union

import numpy as np
import numpy.typing as npt


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


class Mode(enum.StrEnum):
    FAST = "fast"
    SLOW = "slow"


@dataclass
class Camera:
    fps: int = 30
    exposure: float = 5.0


@dataclass
class Lens:
    focal: float
    name: str = "default"
"""


@dataclass(frozen=True)
class TypeCase:
    """One field type and a value of it that must survive save and load unchanged."""

    name: str
    annotation: str
    value: str
    future: bool = False


@dataclass(frozen=True)
class MistakeCase:
    """A document with one mistake, where it is, and the config fields it is checked against."""

    name: str
    fields: str
    document: str
    path: str
    line: int | None


TYPE_CASES: list[TypeCase] = [
    TypeCase("int", "int", "42"),
    TypeCase("negative big int", "int", "-(2**70)"),
    TypeCase("float", "float", "2.5"),
    TypeCase("float inf", "float", "float('inf')"),
    TypeCase("float -inf", "float", "float('-inf')"),
    TypeCase("float nan", "float", "float('nan')"),
    TypeCase("float tiny", "float", "1e-300"),
    TypeCase("bool", "bool", "True"),
    TypeCase("str", "str", "'hello world'"),
    TypeCase("str 'yes'", "str", "'yes'"),
    TypeCase("str 'null'", "str", "'null'"),
    TypeCase("str '1e3'", "str", "'1e3'"),
    TypeCase("str '0o17'", "str", "'0o17'"),
    TypeCase("str '~'", "str", "'~'"),
    TypeCase("str '2024-01-01'", "str", "'2024-01-01'"),
    TypeCase("str empty", "str", "''"),
    TypeCase("str multi-line", "str", "'line one\\nline two\\n'"),
    TypeCase("str unicode", "str", "'µm — 温度'"),
    TypeCase("bytes", "bytes", "b'\\x00\\xffraw'"),
    TypeCase("None", "None", "None"),
    TypeCase("Optional (None)", "Optional[int]", "None"),
    TypeCase("Optional (value)", "Optional[int]", "3"),
    TypeCase("Union (str)", "Union[int, str]", "'7'"),
    TypeCase("Union (int)", "Union[int, str]", "7"),
    TypeCase("Literal", "Literal['fast', 'slow']", "'slow'"),
    TypeCase("Enum", "Color", "Color.GREEN"),
    TypeCase("IntEnum", "Level", "Level.HIGH"),
    TypeCase("StrEnum", "Mode", "Mode.SLOW"),
    TypeCase("Path", "pathlib.Path", "pathlib.Path('/data/run 1/out')"),
    TypeCase("datetime", "dt.datetime", "dt.datetime(2024, 5, 1, 12, 30, 15, 250)"),
    TypeCase(
        "datetime with UTC offset",
        "dt.datetime",
        "dt.datetime(2024, 5, 1, 12, 30, tzinfo=dt.timezone(dt.timedelta(hours=-5)))",
    ),
    TypeCase("date", "dt.date", "dt.date(2024, 5, 1)"),
    TypeCase("tuple (fixed)", "tuple[int, str, float]", "(1, 'a', 2.5)"),
    TypeCase("tuple (variadic)", "tuple[int, ...]", "(1, 2, 3)"),
    TypeCase("list", "list[int]", "[1, 2, 3]"),
    TypeCase("set", "set[str]", "{'b', 'a', 'yes'}"),
    TypeCase("dict (str keys)", "dict[str, float]", "{'a': 1.5, 'null': 2.0}"),
    TypeCase("dict (int keys)", "dict[int, str]", "{1: 'a', 20: 'b'}"),
    TypeCase("dict (Enum keys)", "dict[Color, int]", "{Color.RED: 1, Color.GREEN: 2}"),
    TypeCase("nested dataclass", "Camera", "Camera(fps=60, exposure=1.5)"),
    TypeCase("dataclasses in a list", "list[Camera]", "[Camera(), Camera(fps=1)]"),
    TypeCase("dataclasses in a dict", "dict[str, Camera]", "{'left': Camera(fps=2)}"),
    TypeCase("numpy float32", "np.float32", "np.float32(0.1)"),
    TypeCase("numpy float64", "np.float64", "np.float64(1 / 3)"),
    TypeCase("numpy int16", "np.int16", "np.int16(-7)"),
    TypeCase("numpy uint8", "np.uint8", "np.uint8(255)"),
    TypeCase("numpy bool", "np.bool_", "np.bool_(True)"),
    TypeCase(
        "numpy array float32 2-D",
        "npt.NDArray[np.float32]",
        "np.array([[0.1, 0.2], [0.3, 0.4]], dtype=np.float32)",
    ),
    TypeCase("numpy array int64", "npt.NDArray[np.int64]", "np.arange(5, dtype=np.int64)"),
    TypeCase("numpy array (dtype from default)", "np.ndarray", "np.array([1, 2], dtype=np.uint8)"),
    TypeCase("future annotations", "list[Camera]", "[Camera(fps=3)]", future=True),
    TypeCase("future annotations Path", "Optional[pathlib.Path]", "pathlib.Path('a')", True),
]

MISTAKE_CASES: list[MistakeCase] = [
    MistakeCase("quoted int", "fps: int = 1", 'fps: "60"\n', "fps", 1),
    MistakeCase("float for int", "fps: int = 1", "fps: 3.5\n", "fps", 1),
    MistakeCase("bool for int", "fps: int = 1", "fps: true\n", "fps", 1),
    MistakeCase("str for float", "gain: float = 1.0", "gain: high\n", "gain", 1),
    MistakeCase("int for bool", "on: bool = False", "on: 1\n", "on", 1),
    MistakeCase("quoted bool", "on: bool = False", "on: 'true'\n", "on", 1),
    MistakeCase("int for str", "name: str = 'a'", "name: 123\n", "name", 1),
    MistakeCase("null for str", "name: str = 'a'", "name:\n", "name", 1),
    MistakeCase("unknown key", "fps: int = 1", "fps: 2\nfsp: 3\n", "fsp", 2),
    MistakeCase(
        "unknown nested key",
        "camera: Camera = field(default_factory=Camera)",
        "camera:\n  fps: 2\n  exposre: 3.0\n",
        "camera.exposre",
        3,
    ),
    MistakeCase("missing field", "fps: int\nname: str = 'a'", "name: b\n", "fps", 1),
    MistakeCase(
        "missing nested field",
        "lens: Lens = field(default_factory=lambda: Lens(1.0))",
        "lens:\n  name: wide\n",
        "lens.focal",
        1,
    ),
    MistakeCase("YAML syntax error", "fps: int = 1", "fps: [1, 2\nname: x\n", "<document>", 2),
    MistakeCase("list at the top", "fps: int = 1", "- 1\n- 2\n", "<document>", 1),
    MistakeCase("empty document", "fps: int = 1", "", "<document>", 1),
    MistakeCase("two documents", "fps: int = 1", "fps: 1\n---\nfps: 2\n", "<document>", 2),
    MistakeCase(
        "Python tag",
        "name: str = 'a'",
        "name: !!python/object/apply:os.getcwd []\n",
        "name",
        1,
    ),
    MistakeCase("duplicate key", "fps: int = 1", "fps: 1\nfps: 2\n", "fps", 2),
    MistakeCase("Enum unknown value", "color: Color = Color.RED", "color: blue\n", "color", 1),
    MistakeCase("Enum by name", "color: Color = Color.RED", "color: RED\n", "color", 1),
    MistakeCase("IntEnum unknown", "level: Level = Level.LOW", "level: 7\n", "level", 1),
    MistakeCase("Literal outside", "mode: Literal['a', 'b'] = 'a'", "mode: c\n", "mode", 1),
    MistakeCase(
        "list item type",
        "values: list[int] = field(default_factory=list)",
        "values:\n  - 1\n  - two\n",
        "values[1]",
        3,
    ),
    MistakeCase(
        "tuple length",
        "size: tuple[int, int] = (1, 1)",
        "size: [1, 2, 3]\n",
        "size",
        1,
    ),
    MistakeCase(
        "dict key type",
        "gains: dict[int, float] = field(default_factory=dict)",
        "gains:\n  1: 0.5\n  left: 0.2\n",
        "gains.left",
        3,
    ),
    MistakeCase("Path from int", "out: pathlib.Path = pathlib.Path('a')", "out: 5\n", "out", 1),
    MistakeCase(
        "quoted datetime",
        "when: dt.datetime = dt.datetime(2024, 1, 1)",
        "when: '2024-01-01 10:00:00'\n",
        "when",
        1,
    ),
    MistakeCase(
        "scalar for dataclass",
        "camera: Camera = field(default_factory=Camera)",
        "camera: 30\n",
        "camera",
        1,
    ),
    MistakeCase(
        "wrong type inside list of dataclasses",
        "cameras: list[Camera] = field(default_factory=list)",
        "cameras:\n  - fps: 1\n  - fps: fast\n",
        "cameras[1].fps",
        3,
    ),
    MistakeCase("uint8 out of range", "level: np.uint8 = np.uint8(0)", "level: 300\n", "level", 1),
    MistakeCase(
        "ragged array",
        "weights: npt.NDArray[np.float64] = field(default_factory=lambda: np.zeros(2))",
        "weights:\n  - [1.0, 2.0]\n  - [3.0]\n",
        "weights[1]",
        3,
    ),
    MistakeCase(
        "set duplicates",
        "tags: set[str] = field(default_factory=set)",
        "tags: [a, b, a]\n",
        "tags[2]",
        1,
    ),
    MistakeCase("Optional wrong", "limit: Optional[int] = None", "limit: many\n", "limit", 1),
    MistakeCase("str for bytes", "blob: bytes = b''", "blob: abc\n", "blob", 1),
]


def class_source(fields: str, base_import: str, *, future: bool = False) -> str:
    """Module source that defines ``Config(YamlConfig)`` with the given field lines."""
    body = "\n".join(f"    {line}" for line in fields.splitlines())
    header = "from __future__ import annotations\n" if future else ""
    return f"{header}{PRELUDE}\n{base_import}\n\n\n@dataclass\nclass Config(YamlConfig):\n{body}\n"


def type_case_source(case: TypeCase, base_import: str) -> str:
    """Module source for a type case: one field whose default is the case's value."""
    fields = f"value: {case.annotation} = field(default_factory=lambda: {case.value})"
    return class_source(fields, base_import, future=case.future)


def make_module(source: str, name: str) -> types.ModuleType:
    """Executes ``source`` as a registered module, so annotations resolve against it."""
    module = types.ModuleType(name)
    sys.modules[name] = module
    exec(compile(source, f"<{name}>", "exec"), module.__dict__)
    return module


def same(left: Any, right: Any) -> bool:
    """Equal in value and in type, all the way down (nan equals nan, arrays by dtype and data)."""
    if type(left) is not type(right):
        return False
    if isinstance(left, np.ndarray):
        return (
            left.dtype == right.dtype
            and left.shape == right.shape
            and bool(np.array_equal(left, right, equal_nan=left.dtype.kind == "f"))
        )
    if isinstance(left, float | np.floating) and math.isnan(left):
        return math.isnan(right)
    if isinstance(left, list | tuple):
        return len(left) == len(right) and all(same(a, b) for a, b in zip(left, right, strict=True))
    if isinstance(left, dict):
        keys_match = [(type(k), k) for k in left] == [(type(k), k) for k in right]
        return keys_match and all(same(left[k], right[k]) for k in left)
    if isinstance(left, dt.datetime):
        return left == right and left.utcoffset() == right.utcoffset()
    if hasattr(left, "__dataclass_fields__"):
        return all(same(getattr(left, f), getattr(right, f)) for f in left.__dataclass_fields__)
    if isinstance(left, set | frozenset):
        return left == right and all(any(same(a, b) for b in right) for a in left)
    return bool(left == right)
