"""The single writer's side of the results file: outcomes in, batches of rows out.

Each batch is written in an order that makes a kill harmless at any moment: first what the
batch's runs stored outside the table (per-run arrays and recorders, in one structural window;
text; result columns), then a flush, then the batch's table rows, then a flush. A row in the
table therefore implies that everything its attempt stored is in the file, and a run without a
row is simply run again on resume. Result rows are keyed by a unique attempt id, so what a killed
batch left behind is never read: readers join result rows to the attempts of the table.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..hdf5 import Hdf5Sink
from ._layout import (
    RAGGED,
    RECORDERS,
    RESULTS,
    STATUS_CODES,
    TABLE,
    TABLE_DTYPE,
    TEXT,
    TEXT_FIELD,
    VALUE_FIELD,
    attempt_id,
    attempt_key,
    column_dtype,
)
from ._run import COMPLETED, FAILED, Outcome, log_path
from ._session_log import SessionLog

_COLUMN_KINDS = "biufcS"


def _columnable(value: np.ndarray) -> bool:
    """Whether a value can go into a result column (else it is stored as its own dataset)."""
    return value.dtype.kind in _COLUMN_KINDS or (value.dtype.kind == "U" and value.ndim == 0)


def _fits(dtype: np.dtype[Any], value: np.ndarray) -> bool:
    """Whether ``value`` converts without loss into the column of rows ``dtype``."""
    if TEXT_FIELD in (dtype.names or ()):
        return value.dtype.kind == "U" and value.ndim == 0
    field_type = dtype.fields[VALUE_FIELD][0]  # type: ignore[index]
    base = field_type.base
    return value.shape == field_type.shape and (
        value.dtype == base or np.can_cast(value.dtype, base, "safe")
    )


@dataclass(slots=True)
class _Entry:
    """An outcome waiting in the batch, with where each of its results goes."""

    outcome: Outcome
    attempt: int
    columns: list[tuple[str, np.ndarray]] = field(default_factory=list)
    own_datasets: list[tuple[str, np.ndarray]] = field(default_factory=list)

    def fail(self, reason: str) -> None:
        self.outcome.status, self.outcome.error = FAILED, reason
        self.columns, self.own_datasets = [], []
        self.outcome.recorder = None


class ResultsWriter:
    """Stores outcomes in ``sink`` (layout 2), a batch at a time; ``counts`` tallies them."""

    def __init__(
        self,
        sink: Hdf5Sink,
        directory: Path,
        session: int,
        log: SessionLog,
        *,
        commit_seconds: float = 0.5,
        batch_runs: int = 16384,
        batch_bytes: int = 32 << 20,
    ) -> None:
        self._sink = sink
        self._directory = directory
        self._session = session
        self._log = log
        self._serial = 0
        self._commit_seconds = commit_seconds
        self._batch_runs, self._batch_bytes = batch_runs, batch_bytes
        keys = set(sink.keys())
        self._text_rows = int(sink[TEXT].shape[0]) if TEXT in keys else 0
        self._columns: dict[str, np.dtype[Any]] = {
            key[len(RESULTS) + 1 :]: sink[key].dtype
            for key in keys
            if key.startswith(RESULTS + "/")
        }
        self._pending: list[_Entry] = []
        self._pending_bytes = 0
        self._oldest = 0.0
        self.counts = {COMPLETED: 0, FAILED: 0}

    # ------------------------------------------------------------------ taking outcomes
    def add(self, outcome: Outcome) -> None:
        """Take one run's outcome; it reaches the file with the next batch."""
        self._serial += 1
        entry = _Entry(outcome, attempt_id(self._session, self._serial))
        if outcome.status == COMPLETED:
            try:
                self._place(entry)
            except OSError:
                raise  # the file or the disk failed: no run's fault, the experiment stops
            except Exception as failure:  # a result the file refuses fails its run only
                entry.fail(f"the run's results could not be stored: {failure}")
        if not self._pending:
            self._oldest = time.perf_counter()
        self._pending.append(entry)
        self._pending_bytes += sum(value.nbytes for value in outcome.results.values())
        if (
            len(self._pending) >= self._batch_runs
            or self._pending_bytes >= self._batch_bytes
            or outcome.duration_s >= self._commit_seconds / 10  # slow runs: one at a time
        ):
            self.commit()
        else:
            self.commit_if_due()

    def commit_if_due(self) -> None:
        """Commit when the oldest waiting outcome has waited ``commit_seconds`` (callers that
        wait for runs call this between waits, so no outcome waits for a slow later run)."""
        if self._pending and time.perf_counter() - self._oldest >= self._commit_seconds:
            self.commit()

    def _place(self, entry: _Entry) -> None:
        """Decide where each result goes; a result name seen for the first time makes its
        column now, so a name the file refuses fails this run and no other."""
        for name, value in entry.outcome.results.items():
            if not _columnable(value):
                entry.own_datasets.append((name, value))
                continue
            dtype = self._columns.get(name)
            if dtype is None:
                dtype = column_dtype(value)
                self._write_columns({name: ([entry.attempt], [value])}, dtype_of={name: dtype})
                self._columns[name] = dtype
            elif _fits(dtype, value):
                entry.columns.append((name, value))
            else:
                entry.own_datasets.append((name, value))

    # ------------------------------------------------------------------ writing a batch
    def commit(self) -> None:
        """Write the waiting outcomes: everything they stored, a flush, their table rows."""
        entries, self._pending, self._pending_bytes = self._pending, [], 0
        if not entries:
            return
        self._write_structural([e for e in entries if e.own_datasets or e.outcome.recorder])
        texts: list[str] = []
        rows: list[tuple[Any, ...]] = []
        batches: dict[str, tuple[list[int], list[Any]]] = {}
        for entry in entries:
            outcome = entry.outcome
            error_row = -1
            if outcome.error:
                error_row = self._text_rows + len(texts)
                texts.append(outcome.error)
            rows.append((outcome.index, entry.attempt, STATUS_CODES[outcome.status],
                         outcome.recorder is not None, outcome.started, outcome.duration_s,
                         error_row, outcome.pid))  # fmt: skip
            for name, value in entry.columns:
                attempts, values = batches.setdefault(name, ([], []))
                attempts.append(entry.attempt)
                if TEXT_FIELD in (self._columns[name].names or ()):
                    values.append(self._text_rows + len(texts))
                    texts.append(str(value))
                else:
                    values.append(value)
        if texts:
            self._sink.extend(TEXT, texts)
            self._text_rows += len(texts)
        self._write_columns(batches)
        self._sink.flush()  # everything the rows below point to is in the file first
        self._sink.extend(TABLE, np.array(rows, dtype=TABLE_DTYPE))
        self._sink.flush()
        for entry in entries:
            self._finish(entry.outcome)

    def _write_columns(
        self,
        batches: dict[str, tuple[list[int], list[Any]]],
        dtype_of: dict[str, np.dtype[Any]] | None = None,
    ) -> None:
        for name, (attempts, values) in batches.items():
            dtype = (dtype_of or self._columns)[name]
            rows = np.empty(len(attempts), dtype=dtype)
            rows["attempt"] = attempts
            if TEXT_FIELD in (dtype.names or ()) and dtype_of is not None:
                rows[TEXT_FIELD] = [self._text_rows]  # a new text column: its value goes first
                self._sink.append(TEXT, str(values[0]))
                self._text_rows += 1
            elif TEXT_FIELD in (dtype.names or ()):
                rows[TEXT_FIELD] = values
            else:
                rows[VALUE_FIELD] = values[0] if len(values) == 1 else np.stack(values)
            self._sink.extend(f"{RESULTS}/{name}", rows)

    def _write_structural(self, entries: list[_Entry]) -> None:
        """Per-run datasets (values no column takes) and recorders, in one window of the file."""
        if not entries:
            return
        with self._sink.grouped():
            for entry in entries:
                prefix = f"{RECORDERS}/{attempt_key(entry.attempt)}"
                try:
                    for name, value in entry.own_datasets:
                        self._sink.write(f"{RAGGED}/{attempt_key(entry.attempt)}/{name}", value)
                    for kind, key, value in entry.outcome.recorder or ():
                        target = prefix + key[1:]
                        if kind == "write":
                            self._sink.write(target, value)
                        else:
                            self._sink.set_attrs(target, **value)
                except OSError:
                    raise
                except Exception as failure:
                    entry.fail(f"the run's results could not be stored: {failure}")

    def _finish(self, outcome: Outcome) -> None:
        self.counts[outcome.status] += 1
        if outcome.log:  # kept in memory by an executor's worker: written here
            path = log_path(self._directory, outcome.index)
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "a", encoding="utf-8") as handle:
                handle.write(outcome.log)
        self._log.run_ended(outcome)
