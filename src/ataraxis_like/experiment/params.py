"""Parameter spaces: defaults plus an exploration, every value checked and kept with its type.

A run's parameters are the defaults overlaid with one point of the exploration. Values must be
plain scalars (bool, int, float, str, None) or numpy scalars, which HDF5 attributes store
exactly; an explored name must exist in the defaults, and its values must have the default's
type (an int where a float is declared is accepted and stored as float).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import AtaraxisError

Scalar = bool | int | float | str | None


class ParameterError(AtaraxisError, ValueError):
    """A parameter name or value cannot be explored or stored."""


def cartesian_product(**axes: Iterable[Any]) -> list[dict[str, Any]]:
    """Every combination of the given values, the last name varying fastest."""
    names = list(axes)
    columns = [list(values) for values in axes.values()]
    for name, values in zip(names, columns, strict=True):
        if not values:
            raise ParameterError(f"exploration of {name!r} is empty; give it at least one value")
    return [dict(zip(names, point, strict=True)) for point in itertools.product(*columns)]


def zipped(**axes: Sequence[Any]) -> list[dict[str, Any]]:
    """Points taken side by side from equally long lists."""
    lengths = {name: len(values) for name, values in axes.items()}
    if len(set(lengths.values())) > 1:
        raise ParameterError(
            f"zipped explorations need equally long lists (got lengths {lengths}); "
            "make them equal or use cartesian_product"
        )
    names = list(axes)
    return [dict(zip(names, point, strict=True)) for point in zip(*axes.values(), strict=True)]


def _plain(name: str, value: Any) -> Scalar:
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value
    raise ParameterError(
        f"parameter {name!r} must be a bool, int, float, str or None (got {value!r} that is a "
        f"{type(value).__name__}); store larger values as results, not parameters"
    )


def _conform(name: str, value: Scalar, default: Scalar) -> Scalar:
    if default is None or value is None or type(value) is type(default):
        return value
    if isinstance(default, float) and type(value) is int:
        return float(value)
    raise ParameterError(
        f"parameter {name!r} is declared {type(default).__name__} by the defaults (got {value!r} "
        f"that is a {type(value).__name__}); explore values of the declared type"
    )


def _defaults(defaults: Mapping[str, Any] | Any) -> dict[str, Scalar]:
    if dataclasses.is_dataclass(defaults) and not isinstance(defaults, type):
        fields = {
            field.name: getattr(defaults, field.name) for field in dataclasses.fields(defaults)
        }
    elif isinstance(defaults, Mapping):
        fields = dict(defaults)
    else:
        raise ParameterError(
            f"defaults must be a mapping or a dataclass instance such as a YamlConfig (got "
            f"{type(defaults).__name__}); pass a dict of parameter values"
        )
    return {str(name): _plain(str(name), value) for name, value in fields.items()}


@dataclasses.dataclass(frozen=True)
class ParameterSpace:
    """The defaults and the explored points; ``runs`` gives each run's merged parameters."""

    defaults: dict[str, Scalar]
    points: tuple[dict[str, Scalar], ...]

    @classmethod
    def build(
        cls, defaults: Mapping[str, Any] | Any, exploration: Sequence[Mapping[str, Any]] = ()
    ) -> ParameterSpace:
        plain_defaults = _defaults(defaults)
        points: list[dict[str, Scalar]] = []
        for point in exploration or [{}]:
            checked: dict[str, Scalar] = {}
            for name, value in point.items():
                if name not in plain_defaults:
                    raise ParameterError(
                        f"explored parameter {name!r} is not among the defaults "
                        f"({', '.join(sorted(plain_defaults))}); add a default for it or fix "
                        "the name"
                    )
                checked[name] = _conform(name, _plain(name, value), plain_defaults[name])
            points.append(checked)
        return cls(plain_defaults, tuple(points))

    @property
    def explored_names(self) -> list[str]:
        return sorted({name for point in self.points for name in point})

    def __len__(self) -> int:
        return len(self.points)

    def run_parameters(self, index: int) -> dict[str, Scalar]:
        return {**self.defaults, **self.points[index]}

    def fingerprint(self) -> str:
        """A stable text identity of the space, so a resumed experiment can refuse a changed one."""
        return repr((sorted(self.defaults.items()), [sorted(p.items()) for p in self.points]))


def same_value(left: Scalar, right: Scalar) -> bool:
    """Equality that treats NaN as equal to NaN (parameters read back from a file)."""
    if isinstance(left, float) and isinstance(right, float) and math.isnan(left):
        return math.isnan(right)
    return type(left) is type(right) and left == right
