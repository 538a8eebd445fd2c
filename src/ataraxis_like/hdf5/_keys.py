"""Which keys may coexist: a key cannot also be a group that holds other keys.

Kept as two sets (the keys, and every group above a key), so checking or adding a key costs
O(depth of the key), not O(number of keys): 100,000 keys register in linear time.
"""

from __future__ import annotations

from ._errors import SinkKeyError


class KeyTree:
    """The keys in use and the groups they create (``"a/b/c"`` makes groups "a" and "a/b")."""

    __slots__ = ("_groups", "_keys")

    def __init__(self) -> None:
        self._keys: set[str] = set()
        self._groups: dict[str, str] = {}  # group -> one key under it, for the error message

    def is_group(self, name: str) -> bool:
        return name in self._groups

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
