"""Attributes a sink may set: checked in the caller, before they reach the file or the ring.

HDF5 refuses some values (None, dicts, ints beyond 64 bits, text with NUL) and h5py reports that
with a raw TypeError or ValueError; in queue mode that would stop the writer process, and with it
every other key. So ``set_attrs`` checks names and values first: names by the key rule's
character test, common values (text, numbers, bools) by their type, anything else by setting it
on a throwaway in-memory HDF5 file, which answers exactly as the real file would.
"""

from __future__ import annotations

import os
from typing import Any

import h5py  # type: ignore[import-untyped]
import numpy as np

from ._errors import SinkDataError, SinkKeyError
from ._keys import has_forbidden_character
from ._schema import storable_text

_PROBE: list[Any] = [None, -1]  # the in-memory file and the pid that made it


def _probe() -> Any:
    if _PROBE[1] != os.getpid():
        _PROBE[0] = h5py.File(f"attribute-probe-{os.getpid()}", "w", driver="core",
                              backing_store=False)  # fmt: skip
        _PROBE[1] = os.getpid()
    return _PROBE[0]


def _plainly_storable(value: Any) -> bool:
    """Values HDF5 takes as they are: text without NUL, numbers of at most 64 bits, bools."""
    if isinstance(value, str):
        return storable_text(value)
    if isinstance(value, bool | float | np.bool_ | np.floating | np.integer | np.complexfloating):
        return True
    if isinstance(value, int):
        return -(1 << 63) <= value < (1 << 64)
    return False


def check_attributes(key: str, attributes: dict[str, Any]) -> None:
    """SinkKeyError for a bad attribute name, SinkDataError for a value HDF5 cannot store."""
    for name, value in attributes.items():
        if not name or has_forbidden_character(name):
            raise SinkKeyError(
                f"attribute name {name!r} of sink key {key!r} is empty or holds a control "
                "character: expected a printable name; rename the attribute",
                key=key,
                attribute=name,
            )
        if _plainly_storable(value):
            continue
        probe = _probe()
        try:
            probe.attrs[name] = value
        except (TypeError, ValueError, OverflowError, UnicodeError) as error:
            reason = str(error).splitlines()[0] if str(error) else type(error).__name__
            raise SinkDataError(
                f"attribute {name!r} of sink key {key!r} cannot be stored in HDF5 ({reason}); "
                f"got {type(value).__name__} {value!r:.60}: pass text, numbers, bools or numpy "
                "arrays of them",
                key=key,
                attribute=name,
            ) from None
        finally:
            if name in probe.attrs:
                del probe.attrs[name]
