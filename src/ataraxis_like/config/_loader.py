"""The YAML reader: ``SafeLoader`` plus YAML 1.2 exponent floats, a nesting limit, and a check
that every number and bool is written in its one form.

PyYAML follows YAML 1.1, where ``1e-3`` (no dot) is a string; scientists write it for floats,
and YAML 1.2 agrees, so the loader reads it as a float. YAML 1.1 also reads ``010`` as octal 8,
``1:20`` as 80 (base 60) and ``yes``/``no``/``on``/``off`` as bools, where YAML 1.2 reads 10 and
strings: such plain scalars become ``Ambiguous`` values, which every type refuses with a hint
(a bool field declared ``Annotated[bool, YES_NO]`` takes the words). Everything else is
``SafeLoader``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final

import yaml

_CORE: Final = "tag:yaml.org,2002:"
_KINDS: Final = {"int", "float", "bool", "null", "timestamp"}
MAX_DEPTH: Final = 100
"""Levels of nesting a document may have (a config needs a handful; deeper is refused)."""
_CANONICAL: Final = {
    "int": re.compile(r"[-+]?(?:0|[1-9][0-9]*)"),
    "float": re.compile(
        r"[-+]?(?:[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?|[-+]?[0-9]+[eE][-+]?[0-9]+"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)"
    ),
    "bool": re.compile(r"true|True|TRUE|false|False|FALSE"),
}


class DepthError(yaml.MarkedYAMLError):
    """A document nests deeper than MAX_DEPTH."""


class Loader(yaml.SafeLoader):
    """``SafeLoader`` plus YAML 1.2 exponent floats and a nesting limit (PyYAML composes nodes
    recursively: 1,000 levels would end in RecursionError)."""

    _depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
                raise DepthError(None, None, f"more than {MAX_DEPTH} levels of nesting", mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


Loader.add_implicit_resolver(
    _CORE + "float",
    re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)

_RESOLVER: Final = Loader("")


def plain_kind(text: str) -> str:
    """What the loader reads ``text`` as when it is written without quotes (int, bool, str ...);
    "ambiguous" for a number or bool written in a form YAML readers disagree on."""
    tag: str = _RESOLVER.resolve(yaml.ScalarNode, text, (True, False))  # type: ignore[no-untyped-call]
    kind = tag.removeprefix(_CORE)
    if kind in _CANONICAL and not _CANONICAL[kind].fullmatch(text):
        return "ambiguous"
    return kind if kind in _KINDS else "str"


def is_ambiguous(node: yaml.ScalarNode) -> bool:
    """Whether a plain scalar the loader resolved to int, float or bool is not in that type's
    one written form (an explicit ``!!float 1`` resolves by its tag, and is not)."""
    kind = node.tag.removeprefix(_CORE)
    pattern = _CANONICAL.get(kind)
    if pattern is None or node.style is not None or pattern.fullmatch(node.value):
        return False
    return bool(_RESOLVER.resolve(yaml.ScalarNode, node.value, (True, False)) == node.tag)  # type: ignore[no-untyped-call]


@dataclass(frozen=True)
class Ambiguous:
    """A plain scalar written in a form YAML readers disagree on: ``text`` as written, ``kind``
    (int, float or bool) and ``reading``, what YAML 1.1 makes of it."""

    text: str
    kind: str
    reading: object

    def describe(self) -> str:
        return f"{self.text} (YAML 1.1 reads {_plain(self.reading)}; YAML 1.2 reads otherwise)"

    def hint(self) -> str:
        if self.kind == "bool":
            return "write true or false (a field declared Annotated[bool, YES_NO] reads yes/no)"
        if self.kind == "int" and re.fullmatch(r"[-+]?0[0-9_]+", self.text):
            decimal = int(self.text.replace("_", ""), 10)
            return f"write {self.reading} (octal) or {decimal} (decimal) without leading zeros"
        return f"write {_plain(self.reading)}"


def _plain(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)
