"""The package's top level: every name the README's table lists, each loaded only when used."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

import ataraxis_like

pytestmark = pytest.mark.timeout(60)

README = Path(__file__).resolve().parents[1] / "README.md"


def imported_after(statement: str) -> set[str]:
    """The top-level modules a fresh interpreter has loaded after running ``statement``."""
    script = f"import sys\n{statement}\nprint(' '.join(sorted(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=50
    )
    return {name.split(".")[0] for name in result.stdout.split()}


def test_importing_the_package_loads_no_heavy_dependency() -> None:
    loaded = imported_after("import ataraxis_like")
    assert "ataraxis_like" in loaded
    assert not {"h5py", "numpy", "yaml", "redis"} & loaded


def test_a_worker_using_shared_memory_or_the_logger_does_not_load_h5py() -> None:
    loaded = imported_after(
        "from ataraxis_like import SharedMemoryArray, ShmQueue, DataLogger, LogPackage"
    )
    assert "numpy" in loaded
    assert "h5py" not in loaded


def test_every_name_of_the_readme_table_is_at_the_top_level() -> None:
    table = README.read_text(encoding="utf-8").split("## What is here")[1].split("```")[0]
    first_column = [row.split("|")[1] for row in table.splitlines() if row.startswith("| `")]
    names = {name for cell in first_column for name in re.findall(r"`(\w+)`", cell)}
    assert {
        "compress_npy_logs",
        "LogArchiveReader",
        "Hdf5Sink",
        "Experiment",
        "RedisStore",
    } <= names
    missing = sorted(name for name in names if not hasattr(ataraxis_like, name))
    assert not missing
    assert sorted(ataraxis_like.__all__) == sorted({*ataraxis_like.__all__, *names})


def test_names_are_the_classes_of_their_packages() -> None:
    from ataraxis_like import experiment, hdf5, logs, recorder

    assert ataraxis_like.compress_npy_logs is logs.compress_npy_logs
    assert ataraxis_like.LogArchiveReader is logs.LogArchiveReader
    assert ataraxis_like.Hdf5Sink is hdf5.Hdf5Sink
    assert ataraxis_like.Recorder is recorder.Recorder
    assert ataraxis_like.ExperimentCollection is recorder.ExperimentCollection
    assert ataraxis_like.Experiment is experiment.Experiment
    with pytest.raises(AttributeError, match="no attribute 'NestedDictionary'"):
        ataraxis_like.NestedDictionary  # noqa: B018 - the 3.1 name we do not provide
