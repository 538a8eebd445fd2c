"""The segment header: its byte layout, how it is written and how it is read, in one place.

docs/shared-memory.md documents every byte; this module is that table in code. Version 2 (now)
records the creator's uid, PID namespace and label beside its pid and start time; version-1
segments (written before) are recognised for listing and liveness but never attached.
"""

from __future__ import annotations

import ast
import os
import re
import struct
from dataclasses import dataclass
from typing import Any

from ..errors import ForeignSegmentError, InvalidNameError
from ._posix import MUTEX_BYTES

MAGIC = b"ATXLSHM\x00"
FORMAT_VERSION = 2
KIND_ARRAY = 1
KIND_QUEUE = 2
KIND_NAMES = {KIND_ARRAY: "array", KIND_QUEUE: "queue"}

# Every version starts with these fields, so any version can tell who created a segment:
# magic, version, kind, data offset, creator pid, meta length, creator start time, token.
_COMMON = struct.Struct("<8sHHIIIdQ")
# Version 2's fixed fields: the common ones, then lock recoveries, flags, creator uid, creator
# PID namespace and label; reserved zero bytes follow up to FIXED_BYTES.
_FIXED = struct.Struct("<8sHHIIIdQQIIQ32s")
FIXED_BYTES = 128
RECOVERIES_OFFSET = 40
FLAGS_OFFSET = 48
FLAG_CLOSED = 1
MUTEX_OFFSET = FIXED_BYTES
KIND_AREA_OFFSET = MUTEX_OFFSET + MUTEX_BYTES
KIND_AREA_BYTES = 256
META_OFFSET = KIND_AREA_OFFSET + KIND_AREA_BYTES
MAX_META_BYTES = 65536
DATA_ALIGNMENT = 64
_TOKEN_OFFSET = 32

LABEL_VARIABLE = "ATARAXIS_LIKE_SHM_LABEL"
"""An environment variable whose value every segment a process creates records as its label."""
LABEL_BYTES = 32
_LABEL_PATTERN = re.compile(r"[A-Za-z0-9_.\-]{1,32}")


@dataclass(frozen=True)
class Identity:
    """Who made a segment: the fields liveness needs, readable from any header version.

    ``creator_pid_namespace`` and ``creator_uid`` are 0 and ``label`` empty for version 1, which
    did not record them.
    """

    version: int
    kind: int
    creator_pid: int
    creator_start_time: float
    token: int
    creator_uid: int = 0
    creator_pid_namespace: int = 0
    label: str = ""


@dataclass(frozen=True)
class Header:
    """The decoded header of a segment this version can attach."""

    identity: Identity
    data_offset: int
    meta: dict[str, Any]

    @property
    def kind(self) -> int:
        return self.identity.kind

    @property
    def creator_pid(self) -> int:
        return self.identity.creator_pid

    @property
    def creator_start_time(self) -> float:
        return self.identity.creator_start_time

    @property
    def token(self) -> int:
        return self.identity.token


def label_from_environment() -> str:
    """This process's label (``ATARAXIS_LIKE_SHM_LABEL``), '' when unset; InvalidNameError when
    it could not be stored."""
    label = os.environ.get(LABEL_VARIABLE, "")
    if label and not _LABEL_PATTERN.fullmatch(label):
        raise InvalidNameError(
            f"{LABEL_VARIABLE}={label!r} cannot label a segment: expected 1 to {LABEL_BYTES} of "
            "letters, digits, '_', '-' and '.'; change or unset it",
            name=label,
        )
    return label


def data_offset_for(meta_text: bytes) -> int:
    """Where the data starts after ``meta_text``: the next multiple of DATA_ALIGNMENT."""
    return -(-(META_OFFSET + len(meta_text)) // DATA_ALIGNMENT) * DATA_ALIGNMENT


def write(mapping: Any, identity: Identity, data_offset: int, meta_text: bytes) -> None:
    """Write the whole header except the lock (initialised by the caller before); the magic goes
    in last, so a reader that sees it knows the rest is complete."""
    mapping[META_OFFSET : META_OFFSET + len(meta_text)] = meta_text
    _FIXED.pack_into(
        mapping, 0, b"\x00" * 8, FORMAT_VERSION, identity.kind, data_offset,
        identity.creator_pid, len(meta_text), identity.creator_start_time, identity.token, 0, 0,
        identity.creator_uid, identity.creator_pid_namespace, identity.label.encode("ascii"),
    )  # fmt: skip
    mapping[0:8] = MAGIC


def read_identity(head: bytes) -> Identity | None:
    """The creator of the segment whose first bytes are ``head``; None without our magic."""
    if len(head) < _COMMON.size or head[:8] != MAGIC:
        return None
    _magic, version, kind, _offset, pid, _meta_length, start, token = _COMMON.unpack_from(head)
    if version < 2 or len(head) < _FIXED.size:
        return Identity(version, kind, pid, start, token)
    *_common, _recoveries, _flags, uid, namespace, label = _FIXED.unpack_from(head)
    text = label.rstrip(b"\x00").decode("ascii", "replace")
    return Identity(version, kind, pid, start, token, uid, namespace, text)


def read_token(head: bytes) -> int | None:
    """The token of the segment whose first bytes are ``head`` (any version), else None."""
    if len(head) < _COMMON.size or head[:8] != MAGIC:
        return None
    return int(struct.unpack_from("<Q", head, _TOKEN_OFFSET)[0])


def decode(view: memoryview | bytes, name: str) -> Header:
    """The header of ``name`` if this version can attach it, else ForeignSegmentError."""
    head = bytes(view[:FIXED_BYTES])
    identity = read_identity(head)
    if identity is None:
        raise ForeignSegmentError(
            f"shared memory {name!r} is not an ataraxis-like segment (it starts {head[:8]!r}, "
            f"expected {MAGIC!r}); use another name or remove the file if it is yours",
            name=name,
        )
    if identity.version != FORMAT_VERSION:
        raise ForeignSegmentError(
            f"shared memory {name!r} has header version {identity.version}, this library reads "
            f"{FORMAT_VERSION}; attach with the version that created it",
            name=name,
        )
    _magic, _version, _kind, data_offset, _pid, meta_length, *_rest = _FIXED.unpack_from(head)
    meta_text = bytes(view[META_OFFSET : META_OFFSET + min(meta_length, MAX_META_BYTES)])
    meta = ast.literal_eval(meta_text.decode("utf-8"))
    return Header(identity, data_offset, meta)
