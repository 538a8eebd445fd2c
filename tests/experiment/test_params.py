"""Grids, zipped lists, defaults from a YamlConfig, and every validation error."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from ataraxis_like import YamlConfig
from ataraxis_like.experiment.params import (
    ParameterError,
    ParameterSpace,
    cartesian_product,
    zipped,
)

pytestmark = pytest.mark.timeout(30)


def test_cartesian_product_last_name_fastest() -> None:
    assert cartesian_product(x=[1, 2], y=["a", "b", "c"]) == [
        {"x": 1, "y": "a"}, {"x": 1, "y": "b"}, {"x": 1, "y": "c"},
        {"x": 2, "y": "a"}, {"x": 2, "y": "b"}, {"x": 2, "y": "c"},
    ]  # fmt: skip
    assert len(cartesian_product(x=range(10), y=range(10))) == 100


def test_zipped_needs_equal_lengths() -> None:
    assert zipped(x=[1, 2], y=[3.0, 4.0]) == [{"x": 1, "y": 3.0}, {"x": 2, "y": 4.0}]
    with pytest.raises(ParameterError, match="equally long lists"):
        zipped(x=[1, 2], y=[3.0])
    with pytest.raises(ParameterError, match="is empty"):
        cartesian_product(x=[])


def test_space_merges_defaults_and_conforms_types() -> None:
    space = ParameterSpace.build(
        {"x": 0.5, "y": 1, "name": "base", "flag": False, "seed": None},
        cartesian_product(x=[1, 2.5], y=[np.int64(3)]),
    )
    assert len(space) == 2
    first = space.run_parameters(0)
    assert first == {"x": 1.0, "y": 3, "name": "base", "flag": False, "seed": None}
    assert type(first["x"]) is float
    assert type(first["y"]) is int
    assert space.explored_names == ["x", "y"]
    assert (
        space.fingerprint()
        == ParameterSpace.build(
            {"x": 0.5, "y": 1, "name": "base", "flag": False, "seed": None},
            cartesian_product(x=[1, 2.5], y=[3]),
        ).fingerprint()
    )


@dataclass
class Settings(YamlConfig):
    learning_rate: float = 0.1
    layers: int = 2
    optimizer: str = "adam"


def test_yaml_config_serves_as_defaults() -> None:
    space = ParameterSpace.build(Settings(), zipped(layers=[1, 3]))
    assert space.run_parameters(1) == {"learning_rate": 0.1, "layers": 3, "optimizer": "adam"}


@pytest.mark.parametrize(
    ("defaults", "exploration", "match"),
    [
        ({"x": 1}, [{"z": 1}], r"'z' is not among the defaults \(x\)"),
        ({"x": 1}, [{"x": 1.5}], "declared int by the defaults"),
        ({"x": 1}, [{"x": "1"}], "declared int"),
        ({"x": True}, [{"x": 1}], "declared bool"),
        ({"x": [1, 2]}, [], "must be a bool, int, float, str or None"),
        ({"x": 1}, [{"x": np.zeros(3)}], "must be a bool, int, float, str or None"),
        (42, [], "defaults must be a mapping or a dataclass"),
    ],
)
def test_bad_parameters_are_refused(defaults: object, exploration: list, match: str) -> None:
    with pytest.raises(ParameterError, match=match) as caught:
        ParameterSpace.build(defaults, exploration)
    assert isinstance(caught.value, ValueError)
