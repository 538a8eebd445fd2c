"""The contract every type converter follows, and the state it shares while it walks a document.

A ``Spec`` is compiled once from an annotation and converts in both directions: ``load`` turns
plain YAML data (what ``SafeLoader`` builds) into the declared Python value, ``dump`` turns a
Python value into plain YAML data. Neither raises on bad data: each records a ``Problem`` in its
context and returns ``INVALID``, so one pass finds every mistake in a document.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Final

from ._errors import KeyPath, Problem, describe, describe_value, format_path
from ._loader import Ambiguous, plain_kind


class _Invalid:
    """Marks a value that could not be converted; its problem is already recorded."""

    def __repr__(self) -> str:
        return "INVALID"


INVALID: Final = _Invalid()


@dataclass(frozen=True)
class Location:
    """Where a value came from: a 1-based file line (with its source text) or an override."""

    line: int | None
    column: int = 0
    raw: str | None = None
    origin: str | None = None


class Locator:
    """Finds the location of any key path; paths without their own entry use their parent's."""

    def __init__(self, locations: dict[KeyPath, Location] | None = None) -> None:
        self.locations: dict[KeyPath, Location] = locations if locations is not None else {}
        self.overrides: dict[KeyPath, str] = {}

    def find(self, path: KeyPath) -> Location | None:
        """The override that set ``path`` (or an ancestor), else the nearest located ancestor."""
        for end in range(len(path), -1, -1):
            origin = self.overrides.get(path[:end])
            if origin is not None:
                return Location(line=None, origin=origin)
        for end in range(len(path), -1, -1):
            location = self.locations.get(path[:end])
            if location is not None:
                return location
        return None

    def raw(self, path: KeyPath) -> str | None:
        """The source text of the scalar at exactly ``path``, if it came from the file."""
        if any(path[:end] in self.overrides for end in range(len(path) + 1)):
            return None
        location = self.locations.get(path)
        return location.raw if location is not None else None


@dataclass
class LoadContext:
    """State of one load: where values came from, the policy, and the problems found so far."""

    locator: Locator = field(default_factory=Locator)
    allow_unknown: bool = False
    exact: bool = False
    problems: list[Problem] = field(default_factory=list)

    def report(self, path: KeyPath, expected: str, found: str, hint: str = "") -> _Invalid:
        """Records a problem at ``path`` and returns ``INVALID`` for the caller to pass on."""
        location = self.locator.find(path)
        line = location.line if location is not None else None
        origin = location.origin if location is not None else None
        self.problems.append(Problem(format_path(path), line, expected, found, hint, origin))
        return INVALID

    def mismatch(self, path: KeyPath, expected: str, data: object, hint: str = "") -> _Invalid:
        """Records that ``data`` at ``path`` is not of the ``expected`` type."""
        if isinstance(data, Ambiguous):
            return self.report(path, expected, data.describe(), hint or data.hint())
        return self.report(path, expected, describe(data, self.locator.raw(path)), hint)

    def fork(self, *, exact: bool) -> LoadContext:
        """A context that shares locations and policy but collects problems of its own."""
        return LoadContext(self.locator, self.allow_unknown, exact)


@dataclass
class DumpContext:
    """State of one save: problems found, and the field docs to write as comments."""

    problems: list[Problem] = field(default_factory=list)
    docs: dict[KeyPath, str] = field(default_factory=dict)
    exact: bool = False
    in_container: bool = False

    def mismatch(self, path: KeyPath, expected: str, value: object, hint: str = "") -> _Invalid:
        """Records that the in-memory ``value`` at ``path`` is not of the ``expected`` type."""
        self.problems.append(
            Problem(format_path(path), None, expected, describe_value(value), hint)
        )
        return INVALID

    def fork(self, *, exact: bool) -> DumpContext:
        """A context that collects problems and docs of its own."""
        return DumpContext(exact=exact, in_container=self.in_container)


class Spec(abc.ABC):
    """Converts between one declared type and plain YAML data."""

    name: str

    @abc.abstractmethod
    def load(self, data: object, path: KeyPath, ctx: LoadContext) -> object:
        """The declared value for plain ``data``, or INVALID once its problems are recorded."""

    @abc.abstractmethod
    def dump(self, value: object, path: KeyPath, ctx: DumpContext) -> object:
        """Plain YAML data for ``value``, or INVALID once its problems are recorded."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


def type_hint(want: str, data: object, raw: str | None) -> str:
    """A fix for the common mix-ups between quoted and unquoted scalars."""
    if isinstance(data, str) and want != "str" and plain_kind(data) == want:
        return f"write {data} without quotes"
    if want == "str" and data is not None and not isinstance(data, list | dict | bytes):
        text = raw if raw is not None else data.text if isinstance(data, Ambiguous) else str(data)
        return f"quote it: '{text}'"
    if want == "int" and isinstance(data, float) and data.is_integer():
        return f"write {int(data)} (no decimal point)"
    if want == "bool" and isinstance(data, int) and not isinstance(data, bool):
        return "write true or false"
    return ""
