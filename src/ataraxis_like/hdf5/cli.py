"""``ataraxis-like recover PATH`` reopens an HDF5 file whose writer was killed; ``inspect_hdf5``
shows a file's keys and whether a killed writer left it open.

Exit codes follow the main command line: 0 the file opens (recovered or already clean), 1 the
file was found damaged beyond stale writer flags, 3 an error stopped the job (one line on stderr).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import h5py  # type: ignore[import-untyped]
import numpy as np

from .._exit_codes import EXIT_ERROR, EXIT_OK, EXIT_PROBLEM
from .._inspection import HDF5, InspectError, Inspection, plain, short
from ._errors import RecoveryError, SinkReadError
from ._heap_check import HeapCheck
from ._keys import RESERVED
from ._swmr_read import open_swmr_reader
from .recover import recover, status_flags, writers_of


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the options and the handler of the ``recover`` subcommand (named in cli.py)."""
    parser.add_argument("path", type=Path, help="the HDF5 file")
    parser.add_argument(
        "--timeout", type=float, default=10.0, help="seconds to wait for a live writer's lock"
    )
    parser.add_argument("--json", action="store_true", help="print a JSON summary")
    parser.set_defaults(handler=_recover)


def _recover(arguments: argparse.Namespace) -> int:
    try:
        report = recover(arguments.path, timeout=arguments.timeout)
    except RecoveryError as error:
        print(f"ataraxis-like: error: {error}", file=sys.stderr)
        return EXIT_PROBLEM if getattr(error, "damaged", False) else EXIT_ERROR
    except OSError as error:
        print(f"ataraxis-like: error: {arguments.path}: {error}", file=sys.stderr)
        return EXIT_ERROR
    if arguments.json:
        print(json.dumps({"path": report.path, "recovered": report.recovered,
                          "datasets": {key: list(shape) for key, shape in
                                       report.datasets.items()}}))  # fmt: skip
    else:
        print(report.summary())
    return EXIT_OK


def inspect_hdf5(path: Path) -> Inspection:
    """Keys with shape, dtype, rows and attributes, and whether a killed writer left it open."""
    state, problems = _writer_state(path)
    try:
        handle = _open_for_reading(path)
    except OSError as error:
        why = str(error).splitlines()[0]
        advice = f"; run `ataraxis-like recover {path}`" if problems else ""
        raise InspectError(
            f"{path} cannot be read as HDF5 ({why}){advice}", path=str(path)
        ) from None
    with handle:
        datasets: list[dict[str, Any]] = []
        groups: dict[str, dict[str, Any]] = {}
        heap = HeapCheck(handle, path)  # text attributes in damaged heaps make HDF5 loop

        def visit(name: str, item: Any) -> None:
            if name.startswith(RESERVED):
                return
            _check_attributes(heap, item, name)
            if isinstance(item, h5py.Dataset):
                datasets.append(_dataset_row(name, item))
            elif len(item.attrs):
                groups[name] = {key: plain(value) for key, value in item.attrs.items()}

        handle.visititems(visit)
        _check_attributes(heap, handle, "/")
        attributes = {key: plain(value) for key, value in handle.attrs.items()}
    data = {"state": state, "datasets": datasets, "group_attributes": groups,
            "file_attributes": attributes}  # fmt: skip
    lines = _hdf5_text(path, data) + [f"problem: {why}" for why in problems.values()]
    return Inspection(HDF5, path, data, lines, problems)


def _check_attributes(heap: HeapCheck, target: Any, name: str) -> None:
    """InspectError if the text attributes of ``target`` point into a damaged global heap."""
    try:
        heap.attributes(target, name)
    except SinkReadError as error:
        raise InspectError(str(error), path=str(heap.path)) from None


def _writer_state(path: Path) -> tuple[str, dict[str, str]]:
    writers = [pid for pid in writers_of(path) if pid != os.getpid()]
    if writers:
        return f"open for writing by live pid {writers} (read live, SWMR)", {}
    try:
        flags = status_flags(path)
    except RecoveryError as error:
        raise InspectError(f"{path}: {error}", path=str(path)) from None
    if flags:
        why = f"left open by a killed writer: run `ataraxis-like recover {path}`"
        return "left open by a killed writer", {"writer": why}
    return "closed cleanly", {}


def _open_for_reading(path: Path) -> Any:
    try:
        return open_swmr_reader(path, 2.0)
    except OSError:
        return h5py.File(path, "r", locking=False)  # older formats cannot be read in SWMR mode


def _dtype_name(dataset: Any) -> str:
    string = h5py.check_string_dtype(dataset.dtype)
    if string is not None and string.length is None:
        return "str"
    if h5py.check_vlen_dtype(dataset.dtype) == np.dtype(np.uint8):
        return "bytes"
    return str(dataset.dtype)


def _dataset_row(name: str, dataset: Any) -> dict[str, Any]:
    appendable = bool(dataset.shape) and dataset.maxshape[0] is None
    return {
        "key": name,
        "kind": "rows" if appendable else "array",
        "rows": int(dataset.shape[0]) if appendable else None,
        "shape": list(dataset.shape),
        "dtype": _dtype_name(dataset),
        "attributes": {key: plain(value) for key, value in dataset.attrs.items()},
    }


def _hdf5_text(path: Path, data: dict[str, Any]) -> list[str]:
    datasets = data["datasets"]
    lines = [f"{path}: HDF5, {len(datasets)} dataset(s); {data['state']}"]
    if datasets:
        width = max(len("key"), *(len(row["key"]) for row in datasets))
        lines.append(f"{'key':<{width}} {'rows':>10}  {'shape':<16} {'dtype':<10} attributes")
    for row in datasets:
        rows = "-" if row["rows"] is None else f"{row['rows']:,}"
        shape = str(tuple(row["shape"]))
        lines.append(
            f"{row['key']:<{width}} {rows:>10}  {shape:<16} {row['dtype']:<10} "
            + _attributes_text(row["attributes"])
        )
    for name, attributes in data["group_attributes"].items():
        lines.append(f"group {name}: {_attributes_text(attributes)}")
    if data["file_attributes"]:
        lines.append(f"file attributes: {_attributes_text(data['file_attributes'])}")
    return lines


def _attributes_text(attributes: dict[str, Any]) -> str:
    return ", ".join(f"{key}={short(value, 40)}" for key, value in attributes.items())
