"""What a key is, for every store (the sink, the recorder's memory, HDF5 and Redis stores, an
experiment's results), and which keys may coexist.

The rule (``key_problem``), written once here, below every store that uses it: a key is a
``str`` of names joined by ``/`` (``"camera/frames"``); slashes at either end are dropped
(``"/camera/frames/"`` is the same key, as h5py reads a leading ``/`` as the file's root); no
name may be empty, ``.`` or ``..``; no character may be a control character (NUL, tab, newline,
DEL, C1 controls: HDF5 cuts a name at NUL, and the others make keys that print alike) or a lone
surrogate (it has no UTF-8 form); the first name may not be ``__sink__``, the sink's own.
See docs/hdf5.md, "Keys".

A key cannot also be a group that holds other keys (``a`` and ``a/b``): KeyTree keeps two sets
(the keys, and every group above a key), so checking or adding a key costs O(depth of the key),
not O(number of keys): 100,000 keys register in linear time.
"""

from __future__ import annotations

import re

from ._errors import SinkKeyError

RESERVED = "__sink__"
_FORBIDDEN = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def has_forbidden_character(name: str) -> bool:
    """Whether ``name`` holds a character no key (or attribute name) may hold."""
    return _FORBIDDEN.search(name) is not None


def key_problem(key: object) -> str | None:
    """What keeps ``key`` from being a key, as the end of a message that starts with the kind
    of key ("sink key ", "series key "); None for a good key. Its clean form is then
    ``key.strip("/")``."""
    if not isinstance(key, str):
        return (
            f"must be a str such as 'camera/frames' (got {type(key).__name__} {key!r}); pass "
            "the key as text"
        )
    bad = _FORBIDDEN.search(key)
    if bad is not None:
        what = "a lone surrogate" if bad.group() >= "\ud800" else "the control character"
        return (
            f"{key!r} holds {what} {bad.group()!r} at {bad.start()}: expected printable names "
            "(HDF5 cuts a name at NUL, and a file reader cannot tell such keys apart); rename "
            "the key"
        )
    parts = key.strip("/").split("/")
    if any(part in ("", ".", "..") for part in parts):
        return (
            f"{key!r} is malformed: expected names joined by '/', such as 'camera/frames', "
            "without empty, '.' or '..' parts; rename the key"
        )
    if parts[0] == RESERVED:
        return f"{key!r} starts with the reserved name {RESERVED!r}; use another name"
    return None


class KeyTree:
    """The keys in use and the groups they create (``"a/b/c"`` makes groups "a" and "a/b")."""

    __slots__ = ("_groups", "_keys")

    def __init__(self) -> None:
        self._keys: set[str] = set()
        self._groups: dict[str, str] = {}  # group -> one key under it, for the error message

    def is_group(self, name: str) -> bool:
        return name in self._groups

    def key_under(self, group: str) -> str | None:
        """The first key added under ``group`` (making that key makes the group), or None."""
        return self._groups.get(group)

    def clash(self, key: str) -> str | None:
        """Another key that ``key`` would nest in or hold, or None."""
        if key in self._keys:
            return None
        under = self._groups.get(key)
        if under is not None:
            return under
        end = key.find("/")
        while end != -1:
            if key[:end] in self._keys:
                return key[:end]
            end = key.find("/", end + 1)
        return None

    def check(self, key: str) -> None:
        """Raise SinkKeyError when ``key`` clashes with a key already in use."""
        other = self.clash(key)
        if other is not None:
            raise SinkKeyError(
                f"sink key {key!r} clashes with key {other!r}: one would be a group holding the "
                "other; use keys that are not prefixes of each other",
                key=key,
            )

    def add(self, key: str) -> None:
        if key in self._keys:
            return
        self._keys.add(key)
        end = key.find("/")
        while end != -1:
            self._groups.setdefault(key[:end], key)
            end = key.find("/", end + 1)
