"""The record keeper's API (pip ``rigorous-recorder``) on our recorder.

Code written against its README runs after changing only the import::

    from ataraxis_like.compat.record_keeper import Recorder, RecordKeeper, ExperimentCollection

Differences that show (docs/migrating-from-rigorous-recorder.md has the full list): files are
HDF5, never pickle (``save_to`` writes HDF5 whatever the file name says; ``load_from`` reads it
back); a collection lives in ``<path>.collection/records.h5``; nothing is printed.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Self

from ..recorder import collection as _collection
from ..recorder import tree as _tree
from ..recorder.columns import CHUNK_ROWS, MISSING
from ..recorder.node import Record
from ..recorder.persist import save
from ..recorder.query import Records
from ..recorder.tree import load

_SAVE_KEY = "record_keeper"


class KeeperRecord(Record):
    """A record as the record keeper hands it out: a missing key reads as None."""

    __slots__ = ()

    def __getitem__(self, key: str) -> Any:
        value = self._lookup(key)
        return None if value is MISSING else value


class RecordKeeper(_tree.Recorder):
    """``RecordKeeper(**fields).set_parent(parent)``, ``push``, ``add``, ``commit``, ``records``.

    ``records`` is this keeper's own records, or, once the keeper belongs to an experiment
    collection, every record below it (as in the record keeper); ``all_records`` is always the
    whole subtree. ``keeper["field"]`` reads a field, ``keeper[0]`` a record.
    """

    record_type = KeeperRecord

    def __init__(self, *args: Mapping[str, Any], **kwargs: Any) -> None:
        if len(args) > 1 or (args and not isinstance(args[0], Mapping)):
            raise TypeError(
                f"RecordKeeper takes at most one dict of fields plus keywords (got {args!r:.80}); "
                "pass RecordKeeper({'field': value}) or RecordKeeper(field=value)"
            )
        super().__init__(args[0] if args else None, **kwargs)

    def push(  # type: ignore[override]
        self, data: Mapping[str, Any] | None = None, **kwargs: Any
    ) -> Self:
        """Add one record (the dict, the keywords, and anything ``add`` staged)."""
        if data is not None or self._staged:
            staged, self._staged = self._staged, {}
            kwargs = {**staged, **(data or {}), **kwargs}
        table = self._table
        pending = table.pending
        if kwargs.keys() == pending.keys():
            for key, value in kwargs.items():
                pending[key].append(value)
            table.length += 1
        else:
            table.append_row(kwargs)
        if table.length - table.flushed >= CHUNK_ROWS:
            self.flush()
        return self

    def commit(self) -> KeeperRecord:  # type: ignore[override]
        """Turn staged values into a record and return it."""
        super().commit()
        return KeeperRecord(self, len(self) - 1)

    @property
    def local_data(self) -> dict[str, Any]:
        return self.fields

    @property
    def records(self) -> Records:
        if getattr(self.root, "_in_keeper_collection", False):
            return Records.of_subtree(self, KeeperRecord)
        return self.own_records

    @property
    def all_records(self) -> Records:
        return Records.of_subtree(self, KeeperRecord)

    @property
    def number_of_records(self) -> int:
        return len(self.records)

    def SubRecordKeeper(self, **kwargs: Any) -> RecordKeeper:  # noqa: N802 - their name
        return RecordKeeper(kwargs).set_parent(self)

    def __iter__(self) -> Iterator[Record]:
        return iter(self.records)

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, int | slice):
            return self.own_records[key]
        return self.fields[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.fields[key] = value

    def get(self, key: Any, default: Any = None) -> Any:
        if isinstance(key, int | slice):
            try:
                return self.own_records[key]
            except IndexError:
                return default
        return self.fields.get(key, default)

    def keys(self) -> Any:
        return self.fields.keys()

    def values(self) -> Any:
        return self.fields.values()

    def items(self) -> Any:
        return self.fields.items()

    def save_to(self, path: str | Path) -> None:
        """Save this keeper's subtree (HDF5, whatever the suffix), replacing the file."""
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        save(self, path, key=_SAVE_KEY, overwrite=True)

    @classmethod
    def load_from(cls, path: str | Path) -> RecordKeeper:
        """The keeper ``save_to`` wrote at ``path`` (every node a RecordKeeper again)."""
        root = load(path, key=_SAVE_KEY)
        for node in root.walk():
            node.__class__ = cls
        assert isinstance(root, cls)
        return root


class Recorder(RecordKeeper):
    """The record keeper's ``Recorder`` (its README's first example): a RecordKeeper here.

    There it is the variant that keeps each key's values as one column; every keeper here keeps
    records that way, so the two behave the same. ``SubRecorder`` is its ``SubRecordKeeper``.
    """

    def SubRecorder(self, **kwargs: Any) -> Recorder:  # noqa: N802 - their name
        return Recorder(kwargs).set_parent(self)


class ExperimentCollection(_collection.ExperimentCollection):
    """``ExperimentCollection("data/my_study")`` with ``new_experiment()`` and ``records``."""

    node_type = RecordKeeper
    record_type = KeeperRecord

    def __init__(
        self,
        folder_path: str,
        quiet: bool = False,
        records: Any = None,
        extension: str = ".collection",
    ) -> None:
        folder = Path(str(folder_path) + extension).expanduser().absolute()
        folder.mkdir(parents=True, exist_ok=True)
        super().__init__(folder / "records.h5")
        self.root._in_keeper_collection = True  # type: ignore[attr-defined]
        self.folder_path = str(folder)
        self.collection_name = folder.name
        self.quiet = quiet

    def new_experiment(
        self, experiment_info: Mapping[str, Any] | None = None, **kwargs: Any
    ) -> _collection.Experiment:
        return super().new_experiment(dict(experiment_info or {}), **kwargs)

    @property
    def experiment_numbers(self) -> tuple[Any, ...]:
        return tuple(dict.fromkeys(run.fields["experiment_number"] for run in self.runs))

    def __getitem__(self, number: int) -> tuple[Record, ...]:
        """The records of experiment ``number`` (negative counts from the last)."""
        numbers = self.experiment_numbers
        if number < 0:
            number = numbers[number]
        return tuple(self.records.where(experiment_number=number))


__all__ = ["ExperimentCollection", "KeeperRecord", "RecordKeeper", "Recorder"]
