"""Converters for containers: lists, sets, tuples, dicts and unions of other converters.

Sets are written as sorted lists (so a saved file does not change from run to run) and read
back from lists without duplicates. Tuples are lists of the declared length. A union takes the
first member that accepts a value exactly, then the first that accepts it with an int widened to
a float; saving refuses a value that would read back as a different member.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, cast

from ._errors import KeyPath, Problem, format_path
from ._spec import INVALID, DumpContext, LoadContext, Spec


@contextmanager
def _inside(ctx: DumpContext) -> Iterator[None]:
    """Switches field docs off: a comment repeated for every item of a container is noise."""
    outer = ctx.in_container
    ctx.in_container = True
    try:
        yield
    finally:
        ctx.in_container = outer


def _sort_key(item: object) -> tuple[str, Any]:
    return (type(item).__name__, item)


class ListSpec(Spec):
    """``list[T]``, ``set[T]`` or ``frozenset[T]``: a YAML list of T."""

    def __init__(self, item: Spec, kind: type[list[Any] | set[Any] | frozenset[Any]]) -> None:
        self.item = item
        self.kind = kind
        self.name = f"{kind.__name__}[{item.name}]"

    def load(self, data: object, path: KeyPath, ctx: LoadContext) -> object:
        if not isinstance(data, list):
            return ctx.mismatch(path, f"{self.name} (a YAML list)", data)
        before = len(ctx.problems)
        items = [self.item.load(item, (*path, index), ctx) for index, item in enumerate(data)]
        if self.kind is not list:
            seen: list[object] = []
            for index, item in enumerate(items):
                if item is not INVALID and item in seen:
                    ctx.report((*path, index), f"distinct {self.name} items", f"{item!r} again")
                seen.append(item)
        if len(ctx.problems) > before:
            return INVALID
        return self.kind(items)

    def dump(self, value: object, path: KeyPath, ctx: DumpContext) -> object:
        if type(value) is not self.kind:
            return ctx.mismatch(path, self.name, value)
        items = list(cast("Iterable[object]", value))
        with _inside(ctx):
            plain = [self.item.dump(item, (*path, i), ctx) for i, item in enumerate(items)]
        if any(item is INVALID for item in plain):
            return INVALID
        if self.kind is not list:
            try:
                plain.sort(key=_sort_key)
            except TypeError:
                plain.sort(key=repr)
        return plain


class TupleSpec(Spec):
    """``tuple[A, B]`` (a list of exactly those items) or ``tuple[T, ...]`` (any length)."""

    def __init__(self, items: list[Spec] | None, rest: Spec | None) -> None:
        self.items = items
        self.rest = rest
        inner = ", ".join(spec.name for spec in items) if items is not None else ""
        self.name = f"tuple[{inner or '()'}]" if rest is None else f"tuple[{rest.name}, ...]"

    def item_spec(self, index: int) -> Spec:
        """The converter for item ``index`` (which ``holds`` must accept)."""
        return self.rest if self.rest is not None else (self.items or [])[index]

    def holds(self, index: int) -> bool:
        """Whether the tuple type has an item ``index``."""
        return self.rest is not None or 0 <= index < len(self.items or [])

    def _fits(self, length: int) -> bool:
        return self.rest is not None or length == len(self.items or [])

    def load(self, data: object, path: KeyPath, ctx: LoadContext) -> object:
        if not isinstance(data, list) or not self._fits(len(data)):
            count = len(self.items or [])
            return ctx.mismatch(path, f"{self.name} (a YAML list of {count} items)", data)
        before = len(ctx.problems)
        items = [self.item_spec(i).load(item, (*path, i), ctx) for i, item in enumerate(data)]
        return INVALID if len(ctx.problems) > before else tuple(items)

    def dump(self, value: object, path: KeyPath, ctx: DumpContext) -> object:
        if type(value) is not tuple or not self._fits(len(value)):
            return ctx.mismatch(path, self.name, value)
        with _inside(ctx):
            plain = [self.item_spec(i).dump(item, (*path, i), ctx) for i, item in enumerate(value)]
        return INVALID if any(item is INVALID for item in plain) else plain


class DictSpec(Spec):
    """``dict[K, V]`` with str, int, enum or literal keys: a YAML mapping."""

    def __init__(self, key: Spec, value: Spec) -> None:
        self.key = key
        self.value = value
        self.name = f"dict[{key.name}, {value.name}]"

    def load(self, data: object, path: KeyPath, ctx: LoadContext) -> object:
        if not isinstance(data, dict):
            return ctx.mismatch(path, f"{self.name} (a YAML mapping)", data)
        before = len(ctx.problems)
        result: dict[object, object] = {}
        for key, item in data.items():
            loaded_key = self.key.load(key, (*path, key), ctx)
            loaded_item = self.value.load(item, (*path, key), ctx)
            if loaded_key is not INVALID:
                result[loaded_key] = loaded_item
        return INVALID if len(ctx.problems) > before else result

    def dump(self, value: object, path: KeyPath, ctx: DumpContext) -> object:
        if not isinstance(value, dict):
            return ctx.mismatch(path, self.name, value)
        with _inside(ctx):
            plain = {
                self.key.dump(key, (*path, key), ctx): self.value.dump(item, (*path, key), ctx)
                for key, item in value.items()
            }
        bad = INVALID in plain or any(item is INVALID for item in plain.values())
        return INVALID if bad else plain


class UnionSpec(Spec):
    """``A | B | None``: the first member that takes the value, exact matches first."""

    def __init__(self, arms: list[Spec]) -> None:
        self.arms = arms
        self.name = " or ".join(arm.name for arm in arms)

    def load(self, data: object, path: KeyPath, ctx: LoadContext) -> object:
        failures: list[list[Problem]] = []
        for exact in (True, False):
            for arm in self.arms:
                trial = ctx.fork(exact=exact)
                value = arm.load(data, path, trial)
                if not trial.problems:
                    return value
                if not exact:
                    failures.append(trial.problems)
        here = format_path(path)
        deeper = [problems for problems in failures if all(p.path != here for p in problems)]
        if len(deeper) == 1:
            ctx.problems.extend(deeper[0])
            return INVALID
        return ctx.mismatch(path, self.name, data)

    def choose(self, data: object) -> int | None:
        """The index of the member that loading would pick for plain ``data``."""
        for exact in (True, False):
            for index, arm in enumerate(self.arms):
                trial = LoadContext(exact=exact)
                arm.load(data, (), trial)
                if not trial.problems:
                    return index
        return None

    def dump(self, value: object, path: KeyPath, ctx: DumpContext) -> object:
        for exact in (True, False):
            for index, arm in enumerate(self.arms):
                trial = ctx.fork(exact=exact)
                plain = arm.dump(value, path, trial)
                if trial.problems:
                    continue
                ctx.docs.update(trial.docs)
                chosen = self.choose(plain)
                if chosen != index:
                    other = self.arms[chosen].name if chosen is not None else "nothing"
                    hint = f"it would load back as {other}: list {arm.name} earlier in the union"
                    return ctx.mismatch(path, self.name, value, hint)
                return plain
        return ctx.mismatch(path, self.name, value)
