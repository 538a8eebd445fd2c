"""The trust boundary: whose segments a process attaches, and whose pickled items it unpickles.

Who could have written a segment is who can write its file: its owner (segments are made with
mode 0600) and root. So a process attaches a segment only when its file is owned by, and its
header names as creator, a user it trusts: its own effective user, plus any the caller names
with ``trust=``. Unpickling runs code chosen by whoever wrote the pickle, so pickled items are
unpickled only from segments of our own user, or of trusted users when the caller also passes
``allow_pickle=True``. Bytes and arrays are never unpickled. The threat model is written down in
docs/shared-memory.md, "Who may attach".
"""

from __future__ import annotations

import mmap
import os
import pwd
import stat
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import InvalidArgumentError, SegmentExistsError, UntrustedSegmentError

CREATOR_UID_OFFSET = 52
"""Header bytes 52-55: the effective uid of the creating process (u32)."""

_OTHERS_MAY_WRITE = stat.S_IWGRP | stat.S_IWOTH


def user_text(uid: int) -> str:
    """``user 'nobody' (uid 65534)``, or ``uid 1234`` for a uid without a name."""
    try:
        return f"user {pwd.getpwuid(uid).pw_name!r} (uid {uid})"
    except (KeyError, OverflowError):
        return f"uid {uid}"


def _uid_of(user: object) -> int:
    if isinstance(user, int) and not isinstance(user, bool) and 0 <= user < 2**32:
        return user
    if isinstance(user, str):
        try:
            return pwd.getpwnam(user).pw_uid
        except (KeyError, ValueError):  # no such user; a NUL in the name
            pass
    raise InvalidArgumentError(
        f"trust= names users by uid (an int from 0 to 2**32-1) or by login name (got {user!r}, "
        "which is neither); pass e.g. trust=['acquisition'] or trust=[1001]",
        user=user,
    )


@dataclass(frozen=True)
class Trust:
    """Users besides our own whose segments a handle may attach (``uids``), and whether their
    pickled items are unpickled (``pickles``). Our own user's segments are always accepted."""

    uids: frozenset[int] = frozenset()
    pickles: bool = False

    @classmethod
    def of(cls, trust: object = (), allow_pickle: object = False) -> Trust:
        """The policy of a ``trust=`` (a uid, a login name, or an iterable of them) and an
        ``allow_pickle=`` argument; InvalidArgumentError for values that name no user."""
        if not isinstance(allow_pickle, bool):
            raise InvalidArgumentError(
                f"allow_pickle must be True or False (got {allow_pickle!r}); pass a bool",
                allow_pickle=allow_pickle,
            )
        if isinstance(trust, int | str):
            users: Iterable[object] = [trust]
        elif isinstance(trust, Iterable) and not isinstance(trust, bytes | bytearray):
            users = list(trust)
        else:
            users = [trust]
        return cls(frozenset(_uid_of(user) for user in users), allow_pickle)

    def state(self) -> dict[str, Any]:
        """The policy as plain JSON-able values for a handle's state ({} for our own user only)."""
        if not self.uids and not self.pickles:
            return {}
        return {"trust": sorted(self.uids), "allow_pickle": self.pickles}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Trust:
        return cls(frozenset(state.get("trust", ())), bool(state.get("allow_pickle", False)))

    def accepts(self, uid: int) -> bool:
        return uid == os.geteuid() or uid in self.uids

    def unpickles(self, uid: int) -> bool:
        return uid == os.geteuid() or (self.pickles and uid in self.uids)


OWN_USER = Trust()


def _refusal(name: str, whose: str, fix: str, **details: object) -> UntrustedSegmentError:
    return UntrustedSegmentError(
        f"shared memory {name!r} {whose}, and this process runs as {user_text(os.geteuid())}; "
        f"{fix}",
        name=name,
        **details,
    )


def check_file(descriptor: int, name: str, trust: Trust) -> os.stat_result:
    """Check the opened segment file itself (fstat: not a path another user could swap)."""
    info = os.fstat(descriptor)
    if not stat.S_ISREG(info.st_mode):
        raise _refusal(name, "is not a regular file", "use another name", owner_uid=info.st_uid)
    if not trust.accepts(info.st_uid):
        raise _refusal(
            name,
            f"was created by {user_text(info.st_uid)}",
            f"use another name, or pass trust=[{info.st_uid}] if that user's data is trusted",
            owner_uid=info.st_uid,
        )
    if info.st_mode & _OTHERS_MAY_WRITE:
        raise _refusal(
            name,
            f"can be written by users other than its owner (mode {oct(info.st_mode & 0o777)})",
            "remove the extra permissions with 'chmod 600' or use another name",
            owner_uid=info.st_uid,
        )
    return info


def check_creator(
    mapping: mmap.mmap, owner_uid: int, creator_pid: int, name: str, trust: Trust
) -> bool:
    """Check the creator the header records; return whether its pickled items may be unpickled."""
    creator_uid = int(struct.unpack_from("<I", mapping, CREATOR_UID_OFFSET)[0])
    if not trust.accepts(creator_uid):
        raise _refusal(
            name,
            f"records {user_text(creator_uid)} (pid {creator_pid}) as its creator",
            f"use another name, or pass trust=[{creator_uid}] if that user's data is trusted",
            owner_uid=owner_uid,
            creator_uid=creator_uid,
            creator_pid=creator_pid,
        )
    return trust.unpickles(creator_uid) and trust.unpickles(owner_uid)


def record_creator(mapping: mmap.mmap) -> None:
    """Write this process's effective uid into a header being created."""
    struct.pack_into("<I", mapping, CREATOR_UID_OFFSET, os.geteuid())


def foreign_owner_error(path: Path, name: str) -> SegmentExistsError | None:
    """The error for a name already taken by another user's file, naming that user (and the
    creator's pid when its header can be read); None when the file is ours or gone."""
    try:
        owner = os.stat(path, follow_symlinks=False).st_uid
    except FileNotFoundError:
        return None
    if owner == os.geteuid():
        return None
    pid = "unknown pid"
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            head = os.pread(descriptor, 20, 0)
        finally:
            os.close(descriptor)
        if len(head) == 20:
            pid = f"pid {struct.unpack_from('<I', head, 16)[0]}"
    except OSError:
        pass
    return SegmentExistsError(
        f"shared memory {name!r} already exists, created by {user_text(owner)} ({pid}); "
        "pick another name (segments of other users are never replaced)",
        name=name,
        owner_uid=owner,
    )


def unopenable_error(path: Path, name: str, error: OSError) -> UntrustedSegmentError:
    """The error for a segment file we may not open: a symbolic link (which could point
    anywhere) or another user's file (mode 0600 keeps everyone else out)."""
    try:
        info = os.stat(path, follow_symlinks=False)
    except OSError:
        info = None
    if info is not None and stat.S_ISLNK(info.st_mode):
        return _refusal(
            name,
            f"is a symbolic link made by {user_text(info.st_uid)}",
            "use another name",
            owner_uid=info.st_uid,
        )
    if info is None:
        return _refusal(name, f"cannot be opened ({error.strerror})", "use another name")
    return _refusal(
        name,
        f"was created by {user_text(info.st_uid)} and cannot be opened ({error.strerror})",
        "use another name",
        owner_uid=info.st_uid,
    )
