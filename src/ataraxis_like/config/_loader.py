"""The YAML reader: ``SafeLoader`` that also reads YAML 1.2 exponent floats such as ``1e-3``.

PyYAML follows YAML 1.1, where ``1e-3`` (no dot) is a string; scientists write it for floats,
and YAML 1.2 agrees, so the loader reads it as a float. Everything else is ``SafeLoader``.
"""

from __future__ import annotations

import re
from typing import Final

import yaml

_CORE: Final = "tag:yaml.org,2002:"
_KINDS: Final = {"int", "float", "bool", "null", "timestamp"}


class Loader(yaml.SafeLoader):
    """``SafeLoader`` plus YAML 1.2 exponent floats."""


Loader.add_implicit_resolver(
    _CORE + "float",
    re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)

_RESOLVER: Final = Loader("")


def plain_kind(text: str) -> str:
    """What the loader reads ``text`` as when it is written without quotes (int, bool, str ...)."""
    tag: str = _RESOLVER.resolve(yaml.ScalarNode, text, (True, False))  # type: ignore[no-untyped-call]
    kind = tag.removeprefix(_CORE)
    return kind if kind in _KINDS else "str"
