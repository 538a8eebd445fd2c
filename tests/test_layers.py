"""The package's shape: import-linter's contracts (pyproject.toml) hold on the source tree, a
back-import breaks them, and the command line loads only what the chosen command needs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.timeout(120)


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """``lint-imports`` on ``root/src`` with ``root/pyproject.toml``, leaving no cache behind."""
    script = Path(sys.executable).parent / "lint-imports"
    command = str(script) if script.exists() else shutil.which("lint-imports")
    assert command, "lint-imports is missing: pip install 'ataraxis-like[test]'"
    environment = {**os.environ, "PYTHONPATH": str(root / "src")}
    return subprocess.run(
        [command, "--config", str(root / "pyproject.toml"), "--no-cache"],
        cwd=root,
        env=environment,
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )


def test_the_import_contracts_hold() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_a_back_import_from_shm_to_hdf5_breaks_the_layers(tmp_path: Path) -> None:
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    shutil.copytree(ROOT / "src", tmp_path / "src", ignore=shutil.ignore_patterns("*.so"))
    segment = tmp_path / "src" / "ataraxis_like" / "shm" / "_segment.py"
    segment.write_text(segment.read_text() + "\nfrom ..hdf5 import Hdf5Sink  # noqa: E402\n")
    result = lint_imports(tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "ataraxis_like.shm is not allowed to import ataraxis_like.hdf5" in result.stdout
    assert "ataraxis_like.shm._segment -> ataraxis_like.hdf5" in result.stdout


@pytest.mark.parametrize("command", [["--help"], ["--version"], ["shm", "ls"]])
def test_light_commands_import_neither_numpy_nor_h5py(command: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "ataraxis_like", *command],
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    # -X importtime writes "import time: <self> | <cumulative> | <indent><module>" per import
    imported = [
        line.rpartition("|")[2].strip()
        for line in result.stderr.splitlines()
        if line.startswith("import time:")
    ]
    assert "ataraxis_like.cli" in imported
    heavy = [name for name in imported if name.split(".")[0] in ("numpy", "h5py")]
    ours = [name for name in imported if name.startswith("ataraxis_like")]
    assert not heavy, f"{' '.join(command)} imported {heavy[:3]}...; our modules: {ours}"
