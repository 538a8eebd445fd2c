"""Build hook: compile the optional lock accelerator ``ataraxis_like.shm._fastlock``.

The library works without it (ctypes calls the same libc functions, about 4x slower per lock
round trip), so a machine without a C compiler or Python headers still gets a working wheel:
the hook then warns and builds a pure-Python one. Set ``ATARAXIS_LIKE_NO_EXTENSION=1`` to skip it.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sysconfig
import warnings
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

SOURCE = Path("src/ataraxis_like/shm/_fastlock.c")


def compile_extension(root: Path, output_directory: Path) -> Path | None:
    """Compile the accelerator into ``output_directory``; None (with a warning) if it fails."""
    suffix = sysconfig.get_config_var("EXT_SUFFIX") or ".so"
    target = output_directory / f"_fastlock{suffix}"
    compiler = shlex.split(sysconfig.get_config_var("CC") or "cc")
    command = [
        *compiler, "-O2", "-shared", "-fPIC", f"-I{sysconfig.get_paths()['include']}",
        str(root / SOURCE), "-o", str(target), "-lpthread",
    ]  # fmt: skip
    try:
        completed = subprocess.run(command, capture_output=True, text=True, check=False)
    except OSError as error:
        warnings.warn(
            f"no C compiler ({error}); building without the lock accelerator", stacklevel=2
        )
        return None
    if completed.returncode != 0:
        warnings.warn(
            f"lock accelerator did not compile; building without it:\n{completed.stderr[-2000:]}",
            stacklevel=2,
        )
        return None
    return target


class CustomBuildHook(BuildHookInterface):  # type: ignore[type-arg]
    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel" or os.environ.get("ATARAXIS_LIKE_NO_EXTENSION"):
            return
        root = Path(self.root)
        if version == "editable":  # editable installs import from src/: build beside the source
            compile_extension(root, root / SOURCE.parent)
            return
        output = Path(self.directory) / "_fastlock_build"
        output.mkdir(parents=True, exist_ok=True)
        target = compile_extension(root, output)
        if target is None:
            return
        build_data["force_include"][str(target)] = f"ataraxis_like/shm/{target.name}"
        build_data["pure_python"] = False
        build_data["infer_tag"] = True
