"""Converters for single values: plain scalars, dates, paths, enums and literals.

Loading takes a value only in the one YAML form its type is written in; the single widening is an
int where a float is declared, and only when the float holds it exactly. Saving applies the same
rule to in-memory values, so whatever ``to_yaml`` writes, ``from_yaml`` reads back as it was.
"""

from __future__ import annotations

import datetime as dt
import enum
from pathlib import PurePath
from typing import Any, Final

import numpy as np

from ._errors import KeyPath
from ._loader import Ambiguous
from ._spec import INVALID, DumpContext, LoadContext, Spec, type_hint

_PLAIN_SCALARS: Final = (type(None), bool, int, float, str, bytes, dt.date, dt.datetime)


def yaml_repr(value: object) -> str:
    """Shows a choice the way it is written in YAML: 'red', 3, true, null."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, enum.Enum):
        return yaml_repr(value.value)
    return repr(value)


def int_as_float(value: int) -> float | None:
    """The float equal to ``value``, or ``None`` when a float cannot hold it exactly."""
    try:
        result = float(value)
    except OverflowError:
        return None
    return result if int(result) == value else None


class AnySpec(Spec):
    """``Any`` or an unparameterised container: any plain YAML data, taken as it is."""

    name = "any plain YAML value"

    def load(self, data: object, path: KeyPath, ctx: LoadContext) -> object:
        """``data`` itself, once no value in it is written in a form YAML readers disagree on."""
        if isinstance(data, Ambiguous):
            return ctx.mismatch(path, self.name, data)
        if type(data) is list:
            items = [self.load(item, (*path, index), ctx) for index, item in enumerate(data)]
            return INVALID if any(item is INVALID for item in items) else items
        if type(data) is dict:
            values = {key: self.load(item, (*path, key), ctx) for key, item in data.items()}
            return INVALID if any(item is INVALID for item in values.values()) else values
        return data

    def dump(self, value: object, path: KeyPath, ctx: DumpContext) -> object:
        if type(value) in _PLAIN_SCALARS:
            return value
        if type(value) is list:
            items = [self.dump(item, (*path, index), ctx) for index, item in enumerate(value)]
            return INVALID if any(item is INVALID for item in items) else items
        if type(value) is dict:
            result: dict[object, object] = {}
            for key, item in value.items():
                if type(key) not in _PLAIN_SCALARS:
                    return ctx.mismatch((*path, key), "a plain scalar key", key)
                result[key] = self.dump(item, (*path, key), ctx)
            return INVALID if any(item is INVALID for item in result.values()) else result
        hint = "declare the field's type so it can be converted"
        return ctx.mismatch(path, self.name, value, hint)


class NoneSpec(Spec):
    """``None``: only YAML null."""

    name = "null"

    def load(self, data: object, path: KeyPath, ctx: LoadContext) -> object:
        return None if data is None else ctx.mismatch(path, self.name, data)

    def dump(self, value: object, path: KeyPath, ctx: DumpContext) -> object:
        return None if value is None else ctx.mismatch(path, self.name, value)


class YesNo:
    """Marks a bool field that also reads YAML 1.1's words: ``Annotated[bool, YES_NO]``."""

    def __repr__(self) -> str:
        return "YES_NO"


YES_NO: Final = YesNo()
"""``Annotated[bool, YES_NO]`` declares a bool field that also reads plain yes/no/on/off."""


class BoolSpec(Spec):
    """``bool``: YAML true or false (not 0 or 1, not "true"); with ``words``, also plain
    yes/no/on/off as YAML 1.1 reads them. Saving writes true or false either way."""

    name = "bool"

    def __init__(self, words: bool = False) -> None:
        self.words = words

    def load(self, data: object, path: KeyPath, ctx: LoadContext) -> object:
        if type(data) is bool:
            return data
        if self.words and isinstance(data, Ambiguous) and data.kind == "bool":
            return data.reading
        hint = type_hint("bool", data, ctx.locator.raw(path))
        return ctx.mismatch(path, self.name, data, hint)

    def dump(self, value: object, path: KeyPath, ctx: DumpContext) -> object:
        if isinstance(value, bool | np.bool_):
            return bool(value)
        return ctx.mismatch(path, self.name, value)


class IntSpec(Spec):
    """``int``: a YAML int (not 3.0, not "3", not true)."""

    name = "int"

    def load(self, data: object, path: KeyPath, ctx: LoadContext) -> object:
        if type(data) is int:
            return data
        hint = type_hint("int", data, ctx.locator.raw(path))
        return ctx.mismatch(path, self.name, data, hint)

    def dump(self, value: object, path: KeyPath, ctx: DumpContext) -> object:
        if isinstance(value, int | np.integer) and not isinstance(value, bool):
            return int(value)
        return ctx.mismatch(path, self.name, value)


class FloatSpec(Spec):
    """``float``: a YAML float (.inf and .nan included) or an int a float holds exactly."""

    name = "float"

    def load(self, data: object, path: KeyPath, ctx: LoadContext) -> object:
        if type(data) is float:
            return data
        if type(data) is int and not ctx.exact:
            widened = int_as_float(data)
            if widened is not None:
                return widened
            return ctx.mismatch(path, self.name, data, "a float cannot hold this int exactly")
        hint = type_hint("float", data, ctx.locator.raw(path))
        return ctx.mismatch(path, self.name, data, hint)

    def dump(self, value: object, path: KeyPath, ctx: DumpContext) -> object:
        if isinstance(value, float | np.floating) and np.dtype(type(value)).itemsize <= 8:
            return float(value)
        if isinstance(value, int | np.integer) and not isinstance(value, bool) and not ctx.exact:
            widened = int_as_float(int(value))
            if widened is not None:
                return widened
        return ctx.mismatch(path, self.name, value)


class StrSpec(Spec):
    """``str``: a YAML string; saving quotes any string YAML would read as something else."""

    name = "str"

    def load(self, data: object, path: KeyPath, ctx: LoadContext) -> object:
        if type(data) is str:
            return data
        hint = type_hint("str", data, ctx.locator.raw(path))
        return ctx.mismatch(path, self.name, data, hint)

    def dump(self, value: object, path: KeyPath, ctx: DumpContext) -> object:
        if isinstance(value, str):
            return str.__str__(value)
        return ctx.mismatch(path, self.name, value)


class BytesSpec(Spec):
    """``bytes``: the standard YAML ``!!binary`` tag holding base64 text."""

    name = "bytes"

    def load(self, data: object, path: KeyPath, ctx: LoadContext) -> object:
        if type(data) is bytes:
            return data
        hint = "write bytes as !!binary followed by their base64 text"
        return ctx.mismatch(path, "bytes (!!binary)", data, hint)

    def dump(self, value: object, path: KeyPath, ctx: DumpContext) -> object:
        if type(value) is bytes:
            return value
        return ctx.mismatch(path, self.name, value)


class DateSpec(Spec):
    """``datetime`` or ``date``: a YAML timestamp, unquoted (2024-05-01 or 2024-05-01 12:30:00)."""

    def __init__(self, cls: type[dt.date]) -> None:
        self.cls = cls
        self.name = cls.__name__

    def load(self, data: object, path: KeyPath, ctx: LoadContext) -> object:
        if type(data) is self.cls:
            return data
        if self.cls is dt.date and type(data) is dt.datetime:
            return ctx.mismatch(path, self.name, data, "write the date alone, e.g. 2024-05-01")
        example = "2024-05-01" if self.cls is dt.date else "2024-05-01 12:30:00"
        hint = f"write a timestamp without quotes, e.g. {example}"
        return ctx.mismatch(path, self.name, data, hint)

    def dump(self, value: object, path: KeyPath, ctx: DumpContext) -> object:
        if type(value) is not self.cls:
            return ctx.mismatch(path, self.name, value)
        if isinstance(value, dt.datetime):
            offset = value.utcoffset()
            if offset is not None and offset % dt.timedelta(minutes=1):
                hint = "YAML timestamps hold whole-minute UTC offsets only"
                return ctx.mismatch(path, self.name, value, hint)
        return value


class PathSpec(Spec):
    """``pathlib`` paths: a non-empty YAML string, written with forward slashes."""

    def __init__(self, cls: type[PurePath]) -> None:
        self.cls = cls
        self.name = cls.__name__

    def load(self, data: object, path: KeyPath, ctx: LoadContext) -> object:
        if type(data) is str and data:
            return self.cls(data)
        if data == "":
            return ctx.mismatch(path, self.name, data, "write . for the current directory")
        hint = type_hint("str", data, ctx.locator.raw(path))
        return ctx.mismatch(path, f"{self.name} (a string)", data, hint)

    def dump(self, value: object, path: KeyPath, ctx: DumpContext) -> object:
        if isinstance(value, self.cls):
            return value.as_posix()
        return ctx.mismatch(path, self.name, value, f"wrap it in {self.name}(...)")


class EnumSpec(Spec):
    """An ``Enum`` (``IntEnum``, ``StrEnum``, ``Flag`` ...): written by the member's value."""

    def __init__(self, cls: type[enum.Enum]) -> None:
        self.cls = cls
        self.name = cls.__name__
        self.value_types = {type(member.value) for member in cls}
        choices = ", ".join(yaml_repr(member.value) for member in cls)
        self.expected = f"{self.name}, one of {choices}"

    def load(self, data: object, path: KeyPath, ctx: LoadContext) -> object:
        if type(data) in self.value_types:
            try:
                member = self.cls(data)
            except ValueError:
                pass
            else:
                if type(member.value) is type(data):
                    return member
        hint = ""
        if isinstance(data, str) and data in self.cls.__members__:
            value = self.cls.__members__[data].value
            hint = f"members are written by value: write {yaml_repr(value)}"
        return ctx.mismatch(path, self.expected, data, hint)

    def dump(self, value: object, path: KeyPath, ctx: DumpContext) -> object:
        if isinstance(value, self.cls):
            plain: Any = value.value
            return str.__str__(plain) if isinstance(plain, str) else plain
        return ctx.mismatch(path, self.name, value)


class LiteralSpec(Spec):
    """``Literal[...]``: exactly one of the listed values (enum members written by value)."""

    def __init__(self, choices: tuple[object, ...]) -> None:
        self.choices = choices
        self.name = "one of " + ", ".join(yaml_repr(choice) for choice in choices)

    def load(self, data: object, path: KeyPath, ctx: LoadContext) -> object:
        for choice in self.choices:
            plain = choice.value if isinstance(choice, enum.Enum) else choice
            if type(plain) is type(data) and plain == data:
                return choice
        return ctx.mismatch(path, self.name, data)

    def dump(self, value: object, path: KeyPath, ctx: DumpContext) -> object:
        for choice in self.choices:
            if type(choice) is type(value) and choice == value:
                return choice.value if isinstance(choice, enum.Enum) else choice
        return ctx.mismatch(path, self.name, value)
