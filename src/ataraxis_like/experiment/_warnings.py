"""Where a warning raised by a run goes: that run's log, in every execution mode.

In the main thread (this process, pool workers) each run gets its own ``catch_warnings`` block:
a fresh registry (a warning shown by an earlier run is shown again) and filters restored
afterwards. ``catch_warnings`` is not thread-safe, so runs in other threads (a thread pool, a
Dask worker) share one process-wide ``showwarning`` hook instead, which sends a warning to the
run of the thread that raised it and any other warning where it went before; it is removed
when the last such run ends.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

_lock = threading.Lock()
_local = threading.local()
_state: dict[str, Any] = {"active": 0, "previous": None}


def _hook(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: Any = None,
    line: str | None = None,
) -> None:
    show = getattr(_local, "show", None)
    target = show if show is not None else _state["previous"]
    if target is not None:
        target(message, category, filename, lineno, file, line)


class _OwnBlock:
    """A run in the main thread: its own ``catch_warnings`` block (a class, not a generator:
    this is on the path of every run)."""

    __slots__ = ("_block", "_show")

    def __init__(self, show: Any) -> None:
        self._show = show
        self._block = warnings.catch_warnings()

    def __enter__(self) -> None:
        self._block.__enter__()
        warnings.showwarning = self._show

    def __exit__(self, *exc_info: object) -> None:
        self._block.__exit__(None, None, None)  # restores the filters; raises nothing


@contextmanager
def _shared_hook(show: Any) -> Iterator[None]:
    with _lock:
        if warnings.showwarning is not _hook:
            _state["previous"] = warnings.showwarning
            warnings.showwarning = _hook
        _state["active"] += 1
        mutated = getattr(warnings, "_filters_mutated", None)
        if mutated is not None:
            mutated()  # registries forget what earlier runs showed
    _local.show = show
    try:
        yield
    finally:
        _local.show = None
        with _lock:
            _state["active"] -= 1
            if not _state["active"] and warnings.showwarning is _hook:
                warnings.showwarning = _state["previous"]


def warnings_to(show: Any) -> AbstractContextManager[None]:
    """Send the warnings raised inside the block (in this thread) to ``show``."""
    if threading.current_thread() is threading.main_thread():
        return _OwnBlock(show)
    return _shared_hook(show)
