"""The error a config raises, and the wording of each problem it lists.

One ``ConfigError`` carries every problem found in a document, so a user fixes a file in one pass
instead of one complaint per run. Each problem keeps its parts (path, line, expected, found, hint)
as data, and renders as one line: ``camera.fps (line 4): expected int, got '60' (str); ...``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ataraxis_like.errors import AtaraxisError

#: A location inside a config: field names and dict keys, or list indices.
KeyPath = tuple[Any, ...]


@dataclass(frozen=True)
class Problem:
    """One mistake: where it is, what the class declares there, and what the document holds.

    ``line`` is 1-based and ``None`` when the value did not come from a file line (an override,
    or a value being saved); ``origin`` then says where it came from, if anywhere.
    """

    path: str
    line: int | None
    expected: str
    found: str
    hint: str = ""
    origin: str | None = None

    def __str__(self) -> str:
        where = self.origin if self.line is None else f"line {self.line}"
        head = f"{self.path} ({where})" if where else self.path
        tail = f"; {self.hint}" if self.hint else ""
        return f"{head}: expected {self.expected}, got {self.found}{tail}"


class ConfigError(AtaraxisError, ValueError):
    """A config document, override or value breaks its class's declared types.

    ``problems`` lists every ``Problem`` found; ``source`` names the file (or is ``None``). The
    message is a summary line followed by one line per problem.
    """

    problems: list[Problem]
    source: str | None

    def __init__(self, message: str, **details: Any) -> None:
        details.setdefault("problems", [])
        details.setdefault("source", None)
        super().__init__(message, **details)

    @classmethod
    def from_problems(
        cls, action: str, problems: Sequence[Problem], source: str | None = None
    ) -> ConfigError:
        """Builds the error whose first line is ``action: N problem(s)`` and then lists them."""
        count = len(problems)
        lines = [f"{action}: {count} problem{'' if count == 1 else 's'}"]
        lines.extend(f"  {problem}" for problem in problems)
        return cls("\n".join(lines), problems=list(problems), source=source)


class ConfigFileError(AtaraxisError, OSError):
    """A config file cannot be opened or read (permissions, I/O error)."""


class ConfigNotFoundError(ConfigFileError, FileNotFoundError):
    """There is no config file at the path."""


def format_path(path: KeyPath) -> str:
    """Renders a key path as ``camera.fps``, ``cameras[0].fps`` or ``gains["left eye"]``."""
    if not path:
        return "<document>"
    parts: list[str] = []
    for key in path:
        if isinstance(key, str) and key.isidentifier():
            parts.append(f".{key}" if parts else key)
        elif isinstance(key, str):
            parts.append(f'["{key}"]')
        else:
            parts.append(f"[{key!r}]")
    return "".join(parts)


_KIND_NAMES: dict[type, str] = {
    type(None): "null",
    bool: "bool",
    int: "int",
    float: "float",
    str: "str",
    bytes: "bytes",
    dt.datetime: "timestamp",
    dt.date: "date",
    list: "list",
    dict: "mapping",
}


def kind_of(data: object) -> str:
    """The YAML-level kind of a loaded value, as a user would call it."""
    return _KIND_NAMES.get(type(data), type(data).__name__)


def describe(data: object, raw: str | None = None) -> str:
    """Says what a document holds, e.g. ``'60' (str)``, ``yes (bool)``, ``a list of 3 items``."""
    if data is None:
        return "null"
    if isinstance(data, list):
        return f"a list of {len(data)} item{'' if len(data) == 1 else 's'}"
    if isinstance(data, dict):
        return f"a mapping with keys {_short(', '.join(repr(key) for key in data))}"
    if isinstance(data, bytes):
        return f"{len(data)} bytes of binary data"
    if isinstance(data, str):
        return f"{_short(repr(data))} (str)"
    text = raw if raw is not None else str(data)
    return f"{_short(text)} ({kind_of(data)})"


def describe_value(value: object) -> str:
    """Says what an in-memory value is, for problems found while saving."""
    if isinstance(value, list | dict | bytes | str | type(None)):
        return describe(value)
    return f"{_short(repr(value))} ({type(value).__name__})"


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
