"""Annotations given through type aliases resolve as ``typing`` resolves them.

No ``from __future__ import annotations`` here: the classes are local to their tests, and their
annotations must be objects already, not text to look up in the module.
"""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ataraxis_like.config import ConfigError, YamlConfig

from .matrix import same


def round_trip(config: YamlConfig, tmp_path: Path) -> Any:
    path = tmp_path / "config.yaml"
    config.to_yaml(path)
    return type(config).from_yaml(path)


def _alias_class() -> Any:
    """typing's TypeAliasType (3.12+), else typing_extensions' backport, else skip visibly."""
    import typing

    found = getattr(typing, "TypeAliasType", None)
    if found is None:
        backport = pytest.importorskip(
            "typing_extensions", reason="PEP 695 aliases need Python 3.12+ or typing_extensions"
        )
        found = backport.TypeAliasType
    return found


def test_type_aliases_are_expanded_as_typing_does(tmp_path: Path) -> None:
    """``type X[T] = ...`` aliases (numpy's NDArray is one from numpy 2.5 on 3.12+) resolve to
    what they stand for, parameters substituted, aliases of aliases included."""
    from typing import TypeVar

    alias = _alias_class()
    item = TypeVar("item")
    vector = alias("Vector", list[item], type_params=(item,))
    level = alias("Level", int)
    levels = alias("Levels", vector[level])
    float32_array = alias("Float32Array", np.ndarray[Any, np.dtype[np.float32]])

    @dataclass
    class Aliased(YamlConfig):
        counts: vector[int] = field(default_factory=lambda: [1, 2])  # type: ignore[valid-type]
        nested: levels = field(default_factory=lambda: [3])  # type: ignore[valid-type]
        gains: float32_array = field(  # type: ignore[valid-type]
            default_factory=lambda: np.zeros(2, dtype=np.float32)
        )

    loaded = round_trip(Aliased(counts=[4, 5], nested=[6], gains=np.ones(3, np.float32)), tmp_path)
    assert loaded.counts == [4, 5]
    assert loaded.nested == [6]
    assert loaded.gains.dtype == np.float32
    assert same(loaded.gains, np.ones(3, np.float32))
    path = tmp_path / "bad.yaml"
    path.write_text("counts: [1, x]\n")
    with pytest.raises(ConfigError, match=r"counts\[1\]"):
        Aliased.from_yaml(path)


def test_numpy_typing_ndarray_names_its_dtype_on_this_numpy(tmp_path: Path) -> None:
    """``npt.NDArray[np.float32]`` is a plain generic alias before numpy 2.5 and a PEP 695 alias
    after it (on Python 3.12+): either way the field's dtype is float32."""
    import numpy.typing as npt

    @dataclass
    class Gains(YamlConfig):
        gains: npt.NDArray[np.float32] = field(
            default_factory=lambda: np.zeros(2, dtype=np.float64)  # the default's dtype differs
        )

    loaded = round_trip(Gains(gains=np.array([0.5, 1.5], np.float32)), tmp_path)
    assert loaded.gains.dtype == np.float32
    assert loaded.gains.tolist() == [0.5, 1.5]
