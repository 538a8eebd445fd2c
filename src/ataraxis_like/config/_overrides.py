"""Command-line style overrides (``camera.fps=60``) applied to a loaded document before checking.

The key is a dotted path of field names, dict keys and list indices (``cameras.0.fps``); it must
name something the class declares, even when unknown keys are allowed in files. The value is read
as a YAML flow value (``60``, ``[1, 2]``, ``{a: 1}``); when the declared type does not take that
but takes the text itself as a string (a ``str``, ``Path`` or string enum), the text is used as it
is, so ``name=123`` sets a str field to ``'123'``. Values are then checked like the file's own.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from typing import Any

from ._containers import DictSpec, ListSpec, TupleSpec, UnionSpec
from ._dataclass import DataclassSpec
from ._errors import KeyPath, Problem, describe
from ._spec import INVALID, DumpContext, LoadContext, Spec
from ._yaml_io import parse

#: A child key, its converter, and a way to make its default (None when it has none).
_Child = tuple[Any, Spec, Callable[[], object] | None]


def apply_overrides(
    data: dict[Any, Any], spec: DataclassSpec, overrides: Sequence[str]
) -> tuple[dict[KeyPath, str], list[Problem]]:
    """Sets each override in ``data``; returns the paths set (with their origin) and problems."""
    origins: dict[KeyPath, str] = {}
    problems: list[Problem] = []
    for text in overrides:
        origin = f"override {text!r}"
        key_text, equals, value_text = text.partition("=")
        parts = key_text.strip().split(".")
        if not equals or not all(parts):
            problems.append(Problem(text, None, "an override like camera.fps=60", repr(text)))
            continue
        path = _set(data, spec, parts, value_text.strip(), origin, problems)
        if path is not None:
            origins[path] = origin
    return origins, problems


def _set(
    data: dict[Any, Any],
    spec: DataclassSpec,
    parts: list[str],
    text: str,
    origin: str,
    problems: list[Problem],
) -> KeyPath | None:
    """Walks ``parts`` through ``data`` (filling defaults on the way) and sets the value."""
    node: Any = data
    current: Spec = spec
    path: KeyPath = ()
    for depth, part in enumerate(parts):
        where = ".".join(parts[: depth + 1])
        child = _child(current, part)
        if child is None:
            expected = f"a key of {current.name}"
            hint = _suggest(current, part)
            problems.append(Problem(where, None, expected, f"unknown key {part!r}", hint, origin))
            return None
        parent, (key, current, default) = current, child
        path = (*path, key)
        if isinstance(node, list) and not isinstance(key, int):  # the file has a list here
            above = ".".join(parts[:depth])
            problems.append(Problem(above, None, parent.name, describe(node), "", origin))
            return None
        if isinstance(node, list) and not 0 <= key < len(node):
            found = f"index {key} of a list of {len(node)} items"
            problems.append(Problem(where, None, "an existing list index", found, "", origin))
            return None
        if depth == len(parts) - 1:
            node[key] = _value(current, text)
            return path
        if isinstance(node, dict) and key not in node:
            node[key] = _default_data(current, default)
        node = node[key]
        if not isinstance(node, dict | list):
            problems.append(Problem(where, None, current.name, describe(node), "", origin))
            return None
    return path


def _child(spec: Spec, part: str) -> _Child | None:
    """The key that ``part`` names inside ``spec``, with that key's converter and default."""
    if isinstance(spec, UnionSpec):
        for arm in spec.arms:
            child = _child(arm, part)
            if child is not None:
                return child
        return None
    if isinstance(spec, DataclassSpec):
        field = spec.fields.get(part)
        if field is None:
            return None
        return part, field.spec, None if field.required else field.default
    if isinstance(spec, DictSpec):
        key = _pick(spec.key, part)
        return None if key is INVALID else (key, spec.value, None)
    if isinstance(spec, ListSpec) and spec.kind is list and part.isdigit():
        return int(part), spec.item, None
    if isinstance(spec, TupleSpec) and part.isdigit() and spec.holds(int(part)):
        return int(part), spec.item_spec(int(part)), None
    return None


def _suggest(spec: Spec, part: str) -> str:
    """A did-you-mean hint naming the closest field, if the misspelt key was a field name."""
    arms = spec.arms if isinstance(spec, UnionSpec) else [spec]
    names = [name for arm in arms if isinstance(arm, DataclassSpec) for name in arm.fields]
    close = difflib.get_close_matches(part, names, n=1)
    return f"did you mean '{close[0]}'?" if close else ""


def _accepts(spec: Spec, data: object) -> bool:
    ctx = LoadContext()
    spec.load(data, (), ctx)
    return not ctx.problems


def _pick(spec: Spec, text: str) -> object:
    """Plain data for ``text`` that ``spec`` accepts: the YAML reading first, then the string."""
    data, _, problems = parse(text)
    for candidate in ([] if problems else [data]) + [text]:
        if _accepts(spec, candidate):
            return candidate
    return INVALID


def _value(spec: Spec, text: str) -> object:
    """The plain data to store for an override's value text (checked again with the document)."""
    picked = _pick(spec, text)
    if picked is not INVALID:
        return picked
    data, _, problems = parse(text)
    return text if problems else data


def _default_data(spec: Spec, default: Callable[[], object] | None) -> object:
    """Plain data for a field's default, so that an override changes one key of it."""
    if default is None:
        return {}
    plain = spec.dump(default(), (), DumpContext())
    return {} if plain is INVALID else plain
