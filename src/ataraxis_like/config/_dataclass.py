"""The converter for dataclasses: a YAML mapping with one key per ``init`` field, in field order.

Loading reports every missing required field and every unknown key (unless unknown keys are
allowed), fills absent fields from their defaults (so files written by an older class still load)
and turns an exception from the class's own ``__post_init__`` checks into a problem.
"""

from __future__ import annotations

import dataclasses
import difflib
from typing import Any

from ._errors import KeyPath
from ._spec import INVALID, DumpContext, LoadContext, Spec


@dataclasses.dataclass(frozen=True)
class FieldSpec:
    """One ``init`` field: its converter, whether the file must give it, and its doc comment."""

    name: str
    spec: Spec
    field: dataclasses.Field[Any]

    @property
    def required(self) -> bool:
        return (
            self.field.default is dataclasses.MISSING
            and self.field.default_factory is dataclasses.MISSING
        )

    @property
    def doc(self) -> str:
        doc = self.field.metadata.get("doc", "")
        return doc if isinstance(doc, str) else ""

    def default(self) -> object:
        """The field's default value (a fresh one for ``default_factory`` fields)."""
        if self.field.default is not dataclasses.MISSING:
            return self.field.default
        if self.field.default_factory is not dataclasses.MISSING:
            return self.field.default_factory()
        raise LookupError(f"field {self.name} has no default")


class DataclassSpec(Spec):
    """A dataclass; its fields are filled in by the compiler (they may refer back to it)."""

    def __init__(self, cls: type[Any]) -> None:
        self.cls = cls
        self.name = cls.__name__
        self.fields: dict[str, FieldSpec] = {}

    def load(self, data: object, path: KeyPath, ctx: LoadContext) -> object:
        if not isinstance(data, dict):
            return ctx.mismatch(path, f"a mapping of {self.name} fields", data)
        before = len(ctx.problems)
        kwargs: dict[str, object] = {}
        for name, field in self.fields.items():
            if name in data:
                kwargs[name] = field.spec.load(data[name], (*path, name), ctx)
            elif field.required:
                found = "nothing (the field is missing and has no default)"
                ctx.report((*path, name), field.spec.name, found, f"add '{name}: ...'")
        if not ctx.allow_unknown:
            for key in data:
                if key not in self.fields:
                    self._unknown(key, path, ctx)
        if len(ctx.problems) > before:
            return INVALID
        try:
            return self.cls(**kwargs)
        except Exception as error:
            found = f"{type(error).__name__}: {error}"
            return ctx.report(path, f"values {self.name} accepts", found)

    def _unknown(self, key: object, path: KeyPath, ctx: LoadContext) -> None:
        names = list(self.fields)
        close = difflib.get_close_matches(str(key), names, n=1)
        nested = [
            f"{name}.{key}"
            for name, field in self.fields.items()
            if isinstance(field.spec, DataclassSpec) and key in field.spec.fields
        ]
        if close:
            hint = f"did you mean '{close[0]}'?"
        elif nested:
            hint = f"did you mean '{nested[0]}' (indent it under '{nested[0].split('.')[0]}')?"
        else:
            hint = "remove it, or load with allow_unknown=True"
        shown = ", ".join(names[:8]) + (", ..." if len(names) > 8 else "")
        expected = f"a field of {self.name} ({shown})" if names else f"no keys ({self.name})"
        ctx.report((*path, key), expected, f"unknown key {key!r}", hint)

    def dump(self, value: object, path: KeyPath, ctx: DumpContext) -> object:
        if type(value) is not self.cls:
            return ctx.mismatch(path, self.name, value)
        result: dict[str, object] = {}
        for name, field in self.fields.items():
            if field.doc and not ctx.in_container:
                ctx.docs[(*path, name)] = field.doc
            result[name] = field.spec.dump(getattr(value, name), (*path, name), ctx)
        return INVALID if any(item is INVALID for item in result.values()) else result
