"""The queue-mode writer process: drain the ring into the HDF5 file, exactly once.

Records are taken in place and released only after the rows are committed to the file, so a
killed writer's successor receives them again. Exactly-once comes from a journal in the file
(group ``__sink__``), written in this order for every batch:

1. journal slot ``serial % 2``: {session, serial, committed sequence number per client,
   plan: the length of every touched key before and after} with a CRC, then flush;
2. the rows (resize and write every key), then flush;
3. ``__sink__/commit`` = (session, serial), then flush; then the client table and the release.

A successor of the same session (the ring's token) reads the commit: the slot of that serial
gives the per-client sequence numbers already in the file (records at or below them are skipped
when delivered again), and a valid slot of the next serial is a batch that was cut short: its
keys are truncated back to their plan's old lengths, and its records, still in the ring, are
written again. Attribute changes and whole-array writes are idempotent and simply redone.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import pickle
import signal
import sys
import time
import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import QueueClosedError, QueueEmptyError
from ..shm._ring import Ring
from ..shm._supervisor import EXIT_WRITE_FAILED
from ..shm.array import SharedMemoryArray
from ._keys import RESERVED
from ._paths import FileIdentity, one_line
from ._registry import ClientTable, Registry
from ._schema import ARRAY, ROWS, decode_array, decode_rows
from ._store import Store
from .client import HEADER, KIND_ATTRS, KIND_FLUSH, KIND_ROW_INLINE, KIND_ROWS, KIND_WRITE

_JOURNAL = (f"{RESERVED}/journal0", f"{RESERVED}/journal1")
_COMMIT = f"{RESERVED}/commit"
_HEADER_SIZE = HEADER.size
_RESCUE_BATCH = 256
_SLICE = 512
_GATHER = 0.002
"""Records taken or released per call: the ring's lock is held meanwhile and producers wait."""


@dataclass(frozen=True)
class WriterSettings:
    """What the writer process needs; passed to it as JSON."""

    path: str
    ring_name: str
    ring_token: int
    registry: dict[str, Any]
    clients: dict[str, Any]
    compression: Any
    chunk_bytes: int
    flush_interval: float
    flush_bytes: int
    flush_records: int

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> WriterSettings:
        return cls(**json.loads(text))


def _shared_array(state: dict[str, Any]) -> SharedMemoryArray:
    array = SharedMemoryArray.__new__(SharedMemoryArray)
    array.__setstate__(state)
    array.connect()
    return array


def journal_entry(handle: Any, session: int, serial: int) -> dict[str, Any] | None:
    """Journal slot ``serial`` of ``handle`` (an h5py file) when it is intact and of ``session``."""
    dataset = handle.get(_JOURNAL[serial % 2])
    blob = b"" if dataset is None else dataset[()].tobytes()
    if len(blob) < 4 or zlib.crc32(blob[:-4]) != int.from_bytes(blob[-4:], "little"):
        return None
    entry: dict[str, Any] = json.loads(blob[:-4])
    if entry["session"] != session or entry["serial"] != serial:
        return None
    return entry


def pending_batch(handle: Any, session: int) -> bool:
    """Whether ``session`` began a batch in ``handle`` that it never committed (it was killed)."""
    commit = handle.get(_COMMIT)
    if commit is None:
        return False
    committed_session, serial = (int(value) for value in commit[()])
    return committed_session == session and journal_entry(handle, session, serial + 1) is not None


class Journal:
    """The exactly-once bookkeeping inside the file (see the module docstring)."""

    def __init__(self, store: Store, session: int) -> None:
        self.store = store
        self.session = session
        self.serial = 0
        self.applied: dict[int, int] = {}
        if all(name in store.file for name in (*_JOURNAL, _COMMIT)):
            return  # no structural window (a reopening) when the journal exists
        with store.structural() as handle:
            for name in _JOURNAL:
                if name not in handle:
                    handle.create_dataset(name, shape=(0,), maxshape=(None,), chunks=(4096,),
                                          dtype=np.uint8)  # fmt: skip
            if _COMMIT not in handle:
                handle.create_dataset(_COMMIT, data=np.zeros(2, dtype=np.uint64))

    def _slot(self, serial: int) -> dict[str, Any] | None:
        return journal_entry(self.store.file, self.session, serial)

    def adopt(self) -> None:
        """Make this session the file's (lock mode: every holder of the lock shares one; queue
        mode: each sink's ring token, from its first writer on)."""
        if int(self.store.dataset(_COMMIT)[0]) != self.session:
            self.store.dataset(_COMMIT)[:] = np.array([self.session, 0], dtype=np.uint64)
            self.store.flush()

    def recover(self) -> None:
        """Load what this session committed; undo a batch that was cut short."""
        session, serial = (int(value) for value in self.store.dataset(_COMMIT)[()])
        if session != self.session:
            return
        self.serial = serial
        committed = self._slot(serial) if serial else None
        if committed is not None:
            self.applied = {int(client): seq for client, seq in committed["clients"]}
        pending = self._slot(serial + 1)
        if pending is not None:
            for key, (old, _new) in pending["plan"].items():
                if key in self.store.schemas:
                    self.store.truncate(key, old)

    def begin(self, applied: dict[int, int], plan: dict[str, tuple[int, int]]) -> None:
        entry = {"session": self.session, "serial": self.serial + 1,
                 "clients": sorted(applied.items()), "plan": plan}  # fmt: skip
        text = json.dumps(entry).encode("utf-8")
        blob = text + zlib.crc32(text).to_bytes(4, "little")
        dataset = self.store.dataset(_JOURNAL[(self.serial + 1) % 2])
        dataset.resize((len(blob),))
        dataset[:] = np.frombuffer(blob, dtype=np.uint8)
        self.store.flush()

    def commit(self, applied: dict[int, int]) -> None:
        self.serial += 1
        self.store.dataset(_COMMIT)[:] = np.array([self.session, self.serial], dtype=np.uint64)
        self.store.flush()
        self.applied = dict(applied)


def start_journal(store: Store, session: int) -> Journal:
    """The journal of ``session`` in ``store``, with its last batch undone if it was cut short.

    The commit names the session before its first batch begins: a first batch cut short is then
    undone like any later one (a writer killed inside its first batch, after its rows were
    flushed, used to leave them for its successor to write a second time).
    """
    journal = Journal(store, session)
    journal.adopt()
    journal.recover()
    return journal


class Batch:
    """Records taken from the ring and not yet committed."""

    def __init__(self, applied: dict[int, int]) -> None:
        self.applied = dict(applied)
        self.rows: dict[int, list[tuple[Any, int]]] = {}
        self.counts: dict[int, int] = {}
        self.operations: list[tuple[int, int, bytes, Any]] = []
        self.positions: list[int] = []
        self.nbytes = 0
        self.flush_requested = False
        self.started = 0.0

    def __len__(self) -> int:
        return len(self.positions)

    def add(self, records: list[tuple[int, bytes, Any]]) -> None:
        self.positions.extend([taken[0] for _kind, _meta, taken in records])
        start, count = 0, len(records)
        while start < count:
            kind, meta, taken = records[start]
            if kind != KIND_ROW_INLINE:
                self._add_one(kind, meta, taken[1])
                start += 1
                continue
            end, length = start + 1, len(meta)
            while end < count and records[end][0] == kind and len(records[end][1]) == length:
                end += 1
            self._add_inline([meta for _kind, meta, _taken in records[start:end]], length)
            start = end

    def _fresh(self, client: int, sequence: int) -> bool:
        """False for a record committed before a crash and delivered again."""
        if sequence <= self.applied.get(client, 0):
            return False
        self.applied[client] = sequence
        return True

    def _add_one(self, kind: int, meta: bytes, payload: Any) -> None:
        client, sequence, schema_id, count = HEADER.unpack_from(meta)
        if not self._fresh(client, sequence):
            return
        if kind == KIND_ROWS:
            self._add_rows(schema_id, payload, count)
        elif kind == KIND_FLUSH:
            self.flush_requested = True
        else:
            self.operations.append((kind, schema_id, meta[_HEADER_SIZE:], payload))

    def _add_inline(self, metas: list[bytes], length: int) -> None:
        """A run of one-row records of equal size, parsed at once (the hot path)."""
        table = np.frombuffer(b"".join(metas), dtype=_inline_dtype(length))
        clients, sequences, schema_ids = table["client"], table["sequence"], table["schema"]
        keep = np.ones(len(table), dtype=bool)
        for client in np.unique(clients).tolist():
            mine = clients == client
            done = self.applied.get(client, 0)
            keep &= ~mine | (sequences > done)
            self.applied[client] = max(done, int(sequences[mine].max()))
        for schema_id in np.unique(schema_ids[keep]).tolist():
            chosen = keep & (schema_ids == schema_id)
            self._add_rows(schema_id, table["row"][chosen].tobytes(), int(chosen.sum()))

    def _add_rows(self, schema_id: int, piece: Any, count: int) -> None:
        pieces = self.rows.get(schema_id)
        if pieces is None:
            pieces = self.rows[schema_id] = []
            self.counts[schema_id] = 0
        pieces.append((piece, count))
        self.counts[schema_id] += count
        self.nbytes += len(piece)


@functools.lru_cache(maxsize=64)
def _inline_dtype(length: int) -> np.dtype[Any]:
    return np.dtype([("client", "<u4"), ("sequence", "<u8"), ("schema", "<u4"), ("count", "<u4"),
                     ("row", f"V{length - _HEADER_SIZE}")])  # fmt: skip


class Writer:
    """Body of the writer process."""

    def __init__(self, settings: WriterSettings) -> None:
        self.settings = settings
        self.ring = Ring.attach(settings.ring_name, settings.ring_token)
        self.registry = Registry(_shared_array(settings.registry))
        self.table = ClientTable(_shared_array(settings.clients))
        self.store = Store(settings.path, "a", settings.compression, settings.chunk_bytes)
        self.identity = FileIdentity(self.store.path)
        self.plan: dict[str, tuple[int, int]] = {}
        self.journal = start_journal(self.store, settings.ring_token)
        self.table.publish(self.journal.applied)
        rescued = self.ring.rescue_abandoned()
        # A successor (this session committed before, or records come back) starts with small
        # batches; the first writer of a session does not pay for them.
        self.successor = bool(self.journal.serial or rescued or self.ring.unreleased())

    def _apply_operations(self, batch: Batch) -> None:
        for kind, schema_id, key_bytes, payload in batch.operations:
            if kind == KIND_WRITE:
                schema = self.registry.schema(schema_id)
                self.store.write_array(schema, decode_array(schema, payload))
            elif kind == KIND_ATTRS:
                key = key_bytes.decode("utf-8")
                self._ensure(key)
                self.store.set_attrs(key, pickle.loads(payload))

    def _ensure(self, key: str) -> None:
        """A key registered by a client whose first rows have not arrived yet still exists, and
        so does a group of such keys (its first key is made, as a local sink does)."""
        if not key or key in self.store.schemas:
            return
        found = self.registry.lookup(key)
        if found is None:  # lookup has just read new registrations: the tree is current
            first = self.registry.tree.key_under(key)
            if first is not None:
                self._ensure(first)
            return
        schema = found[1]
        if schema.kind == ROWS:
            self.store.create([schema])
        elif schema.kind == ARRAY:
            self.store.write_array(schema, np.zeros(schema.shape, dtype=schema.dtype))

    def commit(self, batch: Batch) -> None:
        self.identity.check()  # a deleted file would swallow every row without an error
        schemas = {schema_id: self.registry.schema(schema_id) for schema_id in batch.rows}
        new = [schema for schema in schemas.values() if schema.key not in self.store.schemas]
        if new or batch.operations:
            # One window for every new dataset, write and attribute of the batch: each window
            # closes and reopens the file to leave SWMR mode, which costs more than the changes.
            with self.store.structural():
                self.store.create(
                    new,
                    {schemas[schema_id].key: count for schema_id, count in batch.counts.items()},
                )
                self._apply_operations(batch)
        plan: dict[str, tuple[int, int]] = {}
        for schema_id, count in batch.counts.items():
            key = schemas[schema_id].key
            old = self.store.dataset(key).shape[0]
            plan[key] = (old, old + count)
        self.plan = plan
        self.journal.begin(batch.applied, plan)
        for schema_id, pieces in batch.rows.items():
            schema = schemas[schema_id]
            if schema.text is not None:  # each piece has its own table of lengths
                rows = np.concatenate(
                    [decode_rows(schema, piece, count) for piece, count in pieces]
                )
            elif len(pieces) == 1:
                rows = decode_rows(schema, pieces[0][0], pieces[0][1])
            else:
                joined = b"".join([piece for piece, _count in pieces])
                rows = decode_rows(schema, joined, batch.counts[schema_id])
            self.store.append_block(schema.key, rows)
        if plan:
            self.store.flush()
        self.journal.commit(batch.applied)
        self.plan = {}
        self.table.publish(batch.applied)
        for start in range(0, len(batch.positions), _SLICE):
            self.ring.release(batch.positions[start : start + _SLICE])

    def run(self) -> None:
        settings = self.settings
        batch = Batch(self.journal.applied)
        closed = False
        taken = 0
        while not (closed and not batch):
            # Records a killed predecessor held come back first, and the ring finds each one by
            # scanning from its oldest unreleased record: small committed batches keep that
            # scan short until they are all written again.
            limit = settings.flush_records
            if self.successor and taken < settings.flush_records:
                limit = _RESCUE_BATCH
            wait = settings.flush_interval
            if batch:
                wait = max(0.0, batch.started + settings.flush_interval - time.monotonic())
            records: list[tuple[int, bytes, Any]] = []
            if not closed:
                try:
                    records = self.ring.get_many(
                        min(limit - len(batch), _SLICE), timeout=wait, take=True,
                        max_bytes=max(1, settings.flush_bytes - batch.nbytes),
                    )  # fmt: skip
                except QueueEmptyError:
                    pass
                except QueueClosedError:
                    closed = True
            if records:
                if not batch:
                    batch.started = time.monotonic()
                batch.add(records)
                taken += len(records)
            due = batch and (
                closed or batch.flush_requested or len(batch) >= limit
                or batch.nbytes >= settings.flush_bytes
                or time.monotonic() - batch.started >= settings.flush_interval
            )  # fmt: skip
            if not due:
                if 0 < len(records) < _SLICE:
                    time.sleep(_GATHER)  # let rows gather: producers then rarely need to wake us
                continue
            self._commit_or_fail(batch)
            batch = Batch(self.journal.applied)
        self.store.close()

    def _commit_or_fail(self, batch: Batch) -> None:
        try:
            self.commit(batch)
        except Exception as error:
            self._undo_plan()
            self.ring.give_back(batch.positions)
            self.ring.mark_failed(
                f"the sink's writer cannot write {self.settings.path}: {one_line(error)}; "
                "unwritten rows stay queued"
            )
            sys.exit(EXIT_WRITE_FAILED)

    def _undo_plan(self) -> None:
        """Best effort after a failed batch (disk full): keys back to their old lengths, so the
        file holds no rows that were never committed."""
        try:
            for key, (old, _new) in self.plan.items():
                self.store.dataset(key).resize(old, axis=0)  # SWMR allows this; no reopen
            self.store.flush()
        except Exception:  # the file may refuse this too; the journal undoes it on restart
            return


def run_writer(settings: WriterSettings) -> None:
    """Exit 0 after draining a closed queue; EXIT_WRITE_FAILED after marking it failed."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C goes to the owner, who stops us
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a file size limit is a write error, reported
    Writer(settings).run()
    os._exit(0)
