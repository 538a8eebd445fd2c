"""Checks of the plain arguments shared-memory calls take (timeouts, counts).

Hot paths test the common case inline (``timeout is None``, ``type(n) is int``) and call these
only for anything else, so a valid call pays a comparison or two.
"""

from __future__ import annotations

import math
import numbers

from ..errors import InvalidArgumentError


def checked_timeout(timeout: object, label: str) -> float | None:
    """``timeout`` as seconds (None: wait forever), or InvalidArgumentError naming ``label``.

    A timeout is None or a number >= 0 (anything ``float()`` takes but text; True counts as 1).
    """
    if timeout is None:
        return None
    seconds = math.nan
    if not isinstance(timeout, str | bytes | bytearray):
        try:
            seconds = float(timeout)  # type: ignore[arg-type]
        except (TypeError, ValueError, OverflowError):
            pass
    if seconds >= 0:  # false for NaN too
        return seconds if math.isfinite(seconds) else None
    raise InvalidArgumentError(
        f"timeout for {label} must be None or a number of seconds >= 0 (got {timeout!r:.60} "
        f"that is a {type(timeout).__name__}); pass e.g. timeout=1.5, 0 not to wait, None to "
        "wait forever",
        timeout=timeout,
    )


def plain_timeout(timeout: object) -> bool:
    """True for a timeout the hot paths may pass on unchecked: None, or ``timeout >= 0`` is
    the bool True (ints and floats; NaN, text and arrays are not)."""
    if timeout is None:
        return True
    try:
        return (timeout >= 0) is True  # type: ignore[operator]
    except (TypeError, ValueError):
        return False


def checked_count(count: object, argument: str, label: str) -> int:
    """``count`` as an int >= 1, or InvalidArgumentError naming ``argument`` and ``label``."""
    if isinstance(count, numbers.Integral) and not isinstance(count, bool) and int(count) >= 1:
        return int(count)
    raise InvalidArgumentError(
        f"{argument} for {label} must be an int >= 1 (got {count!r:.60} that is a "
        f"{type(count).__name__}); pass how many items to take at most",
        argument=argument,
        value=count,
    )
