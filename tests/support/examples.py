"""Running the scripts in examples/ as a user would."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def run_example(
    name: str, *arguments: str, timeout: float = 110
) -> subprocess.CompletedProcess[str]:
    """Run ``examples/<name>`` with ``arguments`` in a fresh interpreter; it must exit 0."""
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *arguments],
        capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result
