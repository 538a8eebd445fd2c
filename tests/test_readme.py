"""The README's Python block runs as a user would paste it, and prints what it promises."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from .support.seed_names import fixed_names

README = Path(__file__).resolve().parents[1] / "README.md"

pytestmark = pytest.mark.timeout(120)


def test_the_readme_python_block_runs(tmp_path: Path) -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)
    assert len(blocks) == 1, "the README shows one Python block; test each one you add"
    # The block logs into /tmp/session as a user's would; the test keeps that inside tmp_path.
    code = blocks[0].replace('"/tmp/session"', repr(str(tmp_path / "session")))
    with fixed_names():  # the block names its array 'rig_state'
        result = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=100,
            cwd=tmp_path, check=False,
        )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "[1.0, 10.0, 11.0, 0.0, 0.0, 0.0, 0.0, 0.0]",
        "(480, 640)",
    ]
    assert list((tmp_path / "session").rglob("*.npy")), "the logged entry reached no batch file"
