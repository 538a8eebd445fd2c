"""Whether ``create_array(exist_ok=True)`` may take over a name, and who holds it when not.

An array under the name is replaced only when that cuts no live process off: a leftover of a
dead process, or one this process made earlier with no other process mapping it (a re-run
notebook cell). Who still maps it is read from ``/proc`` (``_mappers``), and the refusal names
the processes that hold it.
"""

from __future__ import annotations

import os

import psutil

from ..errors import SegmentExistsError
from . import _segment
from ._mappers import mapping_pids


def make_room(name: str) -> None:
    """For ``exist_ok=True``: free ``name`` when replacing its array cuts no live process off.

    Removes an array this process made earlier (nobody else mapping it); leaves a dead
    creator's leftover to ``_segment.create``; refuses when a live process made or maps it.
    """
    path = _segment.segment_path(name)
    if not path.exists():
        return
    info = _segment.inspect_segment(path)
    if info.token is None:  # not ours to judge, or vanished: creation decides
        return
    own = _segment.created_here(name, info.token)  # by token: a pid may be another namespace's
    if info.state in ("live", "unknown") and not own:
        raise in_use(name, True, f"was made by live pid {info.creator_pid}")
    if own and info.kind != "array":
        raise SegmentExistsError(
            f"shared array {name!r} cannot replace the {info.kind} of that name this process "
            "made: expected an array there; close that one first or pick another name",
            name=name,
        )
    users = mapping_pids(path, exclude=(os.getpid(),))
    if users:
        raise in_use(name, True, f"is still mapped by live pid(s) {_named(users)}")
    if own:
        _segment.remove(name, info.token)


def _named(pids: list[int]) -> str:
    """``pid (process name)`` for each pid, for messages."""
    described = []
    for pid in pids[:5]:
        try:
            described.append(f"{pid} ({psutil.Process(pid).name()})")
        except psutil.Error:
            described.append(str(pid))
    return ", ".join(described) + (f" and {len(pids) - 5} more" if len(pids) > 5 else "")


def in_use(name: str, exist_ok: bool, why: str | None = None) -> SegmentExistsError:
    """The error for a name ``create_array`` cannot take, saying who holds it and what to do."""
    if why is None:
        info = _segment.inspect_segment(_segment.segment_path(name))
        if info.state == "live" and info.creator_pid == os.getpid():
            why = f"was made earlier by this process (pid {info.creator_pid})"
        elif info.state == "live":
            why = f"was made by live pid {info.creator_pid}"
        elif info.state == "stale":
            why = f"is a leftover of dead pid {info.creator_pid}"
        elif info.state == "unknown":
            why = (f"was made by pid {info.creator_pid}, which cannot be judged dead (another "
                   "PID namespace, or an older version of this library)")  # fmt: skip
        elif info.state == "foreign":
            why = "is not an ataraxis-like segment"
        else:
            why = f"cannot be read ({info.reason}; owner uid {info.owner_uid})"
    if exist_ok:
        hint = "replacing it would cut a live process off; stop that process or pick another name"
    else:
        hint = (
            "pass exist_ok=True to replace it (refused while another process uses it) "
            "or pick another name"
        )
    return SegmentExistsError(f"shared array {name!r} already exists and {why}; {hint}", name=name)
