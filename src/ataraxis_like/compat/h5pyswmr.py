"""h5pySWMR's API (github meteotest/h5pySWMR) on our readers-writer locks.

Code written against it runs after changing only the import::

    from ataraxis_like.compat.h5pyswmr import File        # was: from h5pyswmr import File
    import ataraxis_like.compat.h5pyswmr as h5py           # was: import h5pyswmr as h5py

As there, a ``File`` is a path, not an open file: every call (a dataset read, a slice write, a
new group, an attribute) takes the file's lock (shared to read, exclusive to write), opens the
file, does its one thing and closes it, so nothing needs closing and any number of processes
can use one file. The lock is ours (``ataraxis_like.hdf5.locked_file``): writer-preferring, and
never left held by a killed process. By default it is flock (processes on one host); for
several hosts configure Redis as their README does, ``locking.redis_conn =
redis.StrictRedis(host=..., port=..., db=...)``, or give a URL: ``locking.lock_url =
"redis://host:6379/0?lease=10"``. See docs/migrating-from-h5pyswmr.md.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import h5py  # type: ignore[import-untyped]

from ..hdf5 import LockConfigError
from ..hdf5.locked import locked_file

__all__ = ["AttributeManager", "Dataset", "File", "Group", "Node", "locking"]


class _Locking:
    """Where the lock lives (their module ``h5pyswmr.locking``, here one settings object).

    ``redis_conn``: a redis-py client (their setting), or ``lock_url``: our lock URL; both None
    (the default) means flock. ``timeout``: seconds to wait for the lock before
    ``LockTimeoutError`` (a ``TimeoutError``); None waits as long as it takes.
    """

    def __init__(self) -> None:
        self.redis_conn: Any = None
        self.lock_url: str | None = None
        self.timeout: float | None = 20.0

    def url(self) -> str | None:
        if self.lock_url is not None or self.redis_conn is None:
            return self.lock_url
        settings = self.redis_conn.connection_pool.connection_kwargs
        if "path" in settings:
            raise LockConfigError("locking.redis_conn must connect over TCP (host and port); give "
                             "locking.lock_url = 'redis://host:port/db' instead")  # fmt: skip
        password = settings.get("password")
        credentials = f":{password}@" if password else ""
        host, port = settings.get("host", "localhost"), settings.get("port", 6379)
        return f"redis://{credentials}{host}:{port}/{settings.get('db', 0)}"


locking = _Locking()


@contextmanager
def _opened(file: str, mode: str) -> Iterator[h5py.File]:
    with locked_file(file, mode, lock=locking.url(), timeout=locking.timeout) as handle:
        yield handle


class Node:
    """Something at ``path`` inside the HDF5 file ``file``."""

    def __init__(self, file: str, path: str) -> None:
        self.file = file
        self._path = path
        self.attrs = AttributeManager(file, path)

    @property
    def path(self) -> str:
        return self._path

    @property
    def name(self) -> str:
        return self._path

    def _absolute(self, key: str) -> str:
        return key if key.startswith("/") else posixpath.join(self._path, key)

    def __getitem__(self, key: str) -> Any:
        """The group or dataset at ``key`` (absolute, or relative to this group)."""
        with _opened(self.file, "r") as handle:
            return _wrap(self.file, handle[self._absolute(key)])


def _wrap(file: str, node: Any) -> Group | Dataset:
    if isinstance(node, h5py.Group):
        return Group(file, node.name)
    if isinstance(node, h5py.Dataset):
        return Dataset(file, node.name)
    raise TypeError(f"{node!r} is neither a group nor a dataset; only those are wrapped")


class Group(Node):
    """A group; every method opens the file for its own call."""

    def __repr__(self) -> str:
        return f"<HDF5 Group (path={self.path})>"

    def create_group(self, name: str) -> Group:
        with _opened(self.file, "r+") as handle:
            return Group(self.file, handle[self.path].create_group(name).name)

    def require_group(self, name: str) -> Group:
        with _opened(self.file, "r+") as handle:
            return Group(self.file, handle[self.path].require_group(name).name)

    def create_dataset(self, name: str | None = None, *args: Any, **kwargs: Any) -> Dataset:
        """h5py's ``create_dataset``; ``overwrite=True`` replaces an existing one (theirs)."""
        overwrite = kwargs.pop("overwrite", False)
        with _opened(self.file, "r+") as handle:
            group = handle[self.path]
            if overwrite and name is not None and name in group:
                del group[name]
            return Dataset(self.file, group.create_dataset(name, *args, **kwargs).name)

    def require_dataset(self, name: str, *args: Any, **kwargs: Any) -> Dataset:
        with _opened(self.file, "r+") as handle:
            return Dataset(self.file, handle[self.path].require_dataset(name, *args,
                                                                        **kwargs).name)  # fmt: skip

    def keys(self) -> list[str]:
        with _opened(self.file, "r") as handle:
            return list(handle[self.path].keys())

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self.keys())

    def items(self) -> list[tuple[str, Group | Dataset]]:
        """A list (as theirs), not a view: the file is closed when it returns."""
        with _opened(self.file, "r") as handle:
            return [(name, _wrap(self.file, node)) for name, node in handle[self.path].items()]

    def __contains__(self, key: str) -> bool:
        with _opened(self.file, "r") as handle:
            return key in handle[self.path]

    def __delitem__(self, key: str) -> None:
        with _opened(self.file, "r+") as handle:
            del handle[self.path][key]


class File(Group):
    """``File(path, mode="r")``: opens the file once as h5py would (creating or truncating it
    for "w", "a", "x"; h5py's keywords go along), then works like a Group."""

    def __init__(self, name: Any, mode: str = "r", **kwargs: Any) -> None:
        with locked_file(str(name), mode, lock=locking.url(), timeout=locking.timeout,
                         **kwargs) as handle:  # fmt: skip
            super().__init__(handle.filename, "/")
        self.mode = mode

    @property
    def filename(self) -> str:
        return self.file

    def close(self) -> None:
        """Nothing to close (each call closes the file); kept for h5py code that calls it."""

    def __enter__(self) -> File:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<HDF5 File ({self.file})>"


class Dataset(Node):
    """A dataset: slicing reads or writes under the lock."""

    def __getitem__(self, selection: Any) -> Any:
        with _opened(self.file, "r") as handle:
            return handle[self.path][selection]

    def __setitem__(self, selection: Any, value: Any) -> None:
        with _opened(self.file, "r+") as handle:
            handle[self.path][selection] = value

    def resize(self, size: Any, axis: int | None = None) -> None:
        with _opened(self.file, "r+") as handle:
            handle[self.path].resize(size, axis)

    def _read(self, attribute: str) -> Any:
        with _opened(self.file, "r") as handle:
            return getattr(handle[self.path], attribute)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self._read("shape"))

    @property
    def dtype(self) -> Any:
        return self._read("dtype")

    def __len__(self) -> int:
        with _opened(self.file, "r") as handle:
            return int(handle[self.path].len())

    def __repr__(self) -> str:
        return f"<HDF5 Dataset (path={self.path})>"


class AttributeManager:
    """The attributes of the node at ``path``, each access under the lock."""

    def __init__(self, file: str, path: str) -> None:
        self.file = file
        self.path = path

    def keys(self) -> list[str]:
        with _opened(self.file, "r") as handle:
            return list(handle[self.path].attrs.keys())

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def __contains__(self, key: str) -> bool:
        with _opened(self.file, "r") as handle:
            return key in handle[self.path].attrs

    def __getitem__(self, key: str) -> Any:
        with _opened(self.file, "r") as handle:
            return handle[self.path].attrs[key]

    def get(self, key: str, default: Any = None) -> Any:
        with _opened(self.file, "r") as handle:
            return handle[self.path].attrs.get(key, default)

    def __setitem__(self, key: str, value: Any) -> None:
        with _opened(self.file, "r+") as handle:
            handle[self.path].attrs[key] = value

    def __delitem__(self, key: str) -> None:
        with _opened(self.file, "r+") as handle:
            del handle[self.path].attrs[key]
