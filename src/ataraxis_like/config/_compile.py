"""Turns type annotations into converters, once per dataclass.

An annotation the config cannot write and read back exactly raises ``TypeError`` here, when the
class is first used, naming the field: it is a mistake in the class, not in a file. Annotations are
resolved with ``typing.get_type_hints``, so ``from __future__ import annotations`` modules work,
and taken apart with ``get_origin`` and ``get_args`` after PEP 695 aliases are expanded.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import sys
import types
import typing
from pathlib import PurePath
from typing import Any

import numpy as np

from ._containers import DictSpec, ListSpec, TupleSpec, UnionSpec
from ._dataclass import DataclassSpec, FieldSpec
from ._numpy import NdarraySpec, NumpyScalarSpec, check_dtype
from ._scalars import (
    YES_NO,
    AnySpec,
    BoolSpec,
    BytesSpec,
    DateSpec,
    EnumSpec,
    FloatSpec,
    IntSpec,
    LiteralSpec,
    NoneSpec,
    PathSpec,
    StrSpec,
)
from ._spec import Spec

_SPECS: dict[type[Any], DataclassSpec] = {}
_SIMPLE: dict[object, type[Spec]] = {
    bool: BoolSpec,
    int: IntSpec,
    float: FloatSpec,
    str: StrSpec,
    bytes: BytesSpec,
    type(None): NoneSpec,
    None: NoneSpec,
    typing.Any: AnySpec,
}
_ENUM_VALUE_TYPES = (str, int, float, bool, type(None))
_LITERAL_TYPES = (str, int, bool, type(None), bytes, enum.Enum)
_SEQUENCES = (list, set, frozenset)
_UNHASHABLE = (ListSpec, DictSpec, NdarraySpec, DataclassSpec)


def dataclass_spec(cls: type[Any]) -> DataclassSpec:
    """The converter for a dataclass, compiled on first use and cached."""
    spec = _SPECS.get(cls)
    if spec is not None:
        return spec
    if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
        raise TypeError(f"{cls!r} is not a dataclass: decorate it with @dataclass")
    try:
        hints = typing.get_type_hints(cls, include_extras=True)
    except NameError as error:
        raise TypeError(
            f"cannot resolve the annotations of {cls.__qualname__} ({error}); with "
            "'from __future__ import annotations', classes must be defined at module level"
        ) from error
    spec = DataclassSpec(cls)
    _SPECS[cls] = spec
    try:
        for field in dataclasses.fields(cls):
            if not field.init:
                continue
            try:
                field_spec = compile_spec(hints[field.name], field)
            except TypeError as error:
                raise TypeError(f"{cls.__qualname__}.{field.name}: {error}") from None
            spec.fields[field.name] = FieldSpec(field.name, field_spec, field)
    except BaseException:
        del _SPECS[cls]
        raise
    return spec


def compile_spec(tp: Any, field: dataclasses.Field[Any] | None = None) -> Spec:
    """The converter for annotation ``tp``; ``field`` supplies a bare ndarray's dtype default."""
    tp = expand_type_alias(tp)
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Annotated:
        if any(extra is YES_NO for extra in args[1:]):
            if args[0] is not bool:
                raise TypeError(f"YES_NO marks bool fields only, not {args[0]!r}")
            return BoolSpec(words=True)
        return compile_spec(args[0], field)
    if isinstance(tp, typing.NewType):
        return compile_spec(tp.__supertype__, field)
    if origin is typing.Union or origin is types.UnionType:
        return UnionSpec([compile_spec(arm, field) for arm in args])
    if origin is typing.Literal:
        return _literal(args)
    if origin is np.ndarray or tp is np.ndarray:
        return NdarraySpec(_array_dtype(args, field))
    if origin is tuple or tp is tuple:
        return _tuple(tp, args)
    if origin in _SEQUENCES or tp in _SEQUENCES:
        return _sequence(origin or tp, args)
    if origin is dict or tp is dict:
        return _dict(args)
    if origin is not None:
        raise TypeError(f"unsupported annotation {tp!r}")
    return _plain_class(tp)


def _type_alias_classes() -> tuple[Any, ...]:
    """The classes of ``type X = ...`` aliases here: typing's (3.12+) and typing_extensions' when
    something already imported it (its backport is a class of its own on 3.11)."""
    found = [getattr(typing, "TypeAliasType", None)]
    backport = sys.modules.get("typing_extensions")
    found.append(getattr(backport, "TypeAliasType", None))
    return tuple({cls for cls in found if isinstance(cls, type)})


def expand_type_alias(tp: Any) -> Any:
    """What a PEP 695 alias stands for, its type parameters substituted, as ``typing`` does it.

    ``numpy.typing.NDArray`` is such an alias from numpy 2.5 on Python 3.12+, so
    ``NDArray[np.float32]`` has the alias as its origin instead of ``np.ndarray``. Aliases of
    aliases are expanded in turn; anything else comes back unchanged.
    """
    alias_classes = _type_alias_classes()
    for _ in range(100):
        alias: Any = typing.get_origin(tp)
        if isinstance(tp, alias_classes):
            tp = tp.__value__
        elif isinstance(alias, alias_classes):
            tp = alias.__value__[typing.get_args(tp)] if alias.__type_params__ else alias.__value__
        else:
            return tp
    raise TypeError(f"type alias {tp!r} does not expand to a type (it refers to itself)")


def _plain_class(tp: Any) -> Spec:
    simple = _SIMPLE.get(tp)
    if simple is not None:
        return simple()
    if not isinstance(tp, type):
        raise TypeError(f"unsupported annotation {tp!r}")
    if issubclass(tp, enum.Enum):
        bad = [m.name for m in tp if not isinstance(m.value, _ENUM_VALUE_TYPES)]
        if bad:
            raise TypeError(f"{tp.__name__} members {bad} have values that are not plain scalars")
        return EnumSpec(tp)
    if tp is dt.datetime or tp is dt.date:
        return DateSpec(tp)
    if issubclass(tp, PurePath):
        return PathSpec(tp)
    if issubclass(tp, np.generic):
        dtype = np.dtype(tp)
        check_dtype(dtype)
        return NumpyScalarSpec(dtype)
    if dataclasses.is_dataclass(tp):
        return dataclass_spec(tp)
    raise TypeError(f"unsupported type {tp.__qualname__}; see docs/config.md for supported types")


def _literal(args: tuple[Any, ...]) -> Spec:
    bad = [arg for arg in args if not isinstance(arg, _LITERAL_TYPES)]
    if bad:
        raise TypeError(f"Literal values must be plain scalars or enum members, not {bad!r}")
    return LiteralSpec(args)


def _array_dtype(args: tuple[Any, ...], field: dataclasses.Field[Any] | None) -> np.dtype[Any]:
    """The dtype named by ``NDArray[np.float32]``, else the default's dtype, else float64."""
    if len(args) == 2:
        scalar = typing.get_args(args[1])
        if scalar and isinstance(scalar[0], type) and issubclass(scalar[0], np.generic):
            dtype = np.dtype(scalar[0])
            check_dtype(dtype)
            return dtype
    default: object = None
    if field is not None and field.default_factory is not dataclasses.MISSING:
        default = field.default_factory()
    elif field is not None and field.default is not dataclasses.MISSING:
        default = field.default
    dtype = default.dtype if isinstance(default, np.ndarray) else np.dtype(np.float64)
    check_dtype(dtype)
    return dtype


def _tuple(tp: Any, args: tuple[Any, ...]) -> Spec:
    if tp is tuple or tp is typing.Tuple:  # noqa: UP006
        return TupleSpec(None, AnySpec())
    if len(args) == 2 and args[1] is Ellipsis:
        return TupleSpec(None, compile_spec(args[0]))
    return TupleSpec([compile_spec(arg) for arg in args], None)


def _sequence(kind: Any, args: tuple[Any, ...]) -> Spec:
    item = compile_spec(args[0]) if args else AnySpec()
    hashable = isinstance(item, DataclassSpec) and item.cls.__hash__ is not None
    if kind is not list and isinstance(item, _UNHASHABLE) and not hashable:
        raise TypeError(f"{kind.__name__} items must be hashable, not {item.name}")
    return ListSpec(item, kind)


def _dict(args: tuple[Any, ...]) -> Spec:
    if not args:
        return DictSpec(AnySpec(), AnySpec())
    key = compile_spec(args[0])
    if not isinstance(key, StrSpec | IntSpec | EnumSpec | LiteralSpec | AnySpec):
        raise TypeError(f"dict keys must be str, int, an Enum or a Literal, not {key.name}")
    return DictSpec(key, compile_spec(args[1]))
