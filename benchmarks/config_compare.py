"""Compare YamlConfig with the reference library's on the same type matrix and mistake matrix.

The cases live in ``tests/config/matrix.py`` (the tests run them too). The reference runs in its
own virtual environment, ``benchmarks/.venvs/reference`` (made, and given
``ataraxis-data-structures``, only when missing); ours runs in this process. The same runner code
judges both:

- a type case is handled when the saved value loads back equal and of the same type;
- a mistake case is rejected when loading raises, and located when the message also names the
  dotted path and ``line N``.

Usage: ``python benchmarks/config_compare.py [--record]``; ``--record`` writes the table into
``benchmarks/RESULTS.md`` under "## YamlConfig: type and mistake matrix".
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCHMARKS = Path(__file__).resolve().parent
ROOT = BENCHMARKS.parent
MATRIX_DIR = ROOT / "tests" / "config"
sys.path.insert(0, str(BENCHMARKS))
from _harness import VENVS  # noqa: E402  (benchmarks/ is not a package)

VENV = VENVS / "reference"
REFERENCE = "ataraxis-data-structures"
SECTION = "YamlConfig: type and mistake matrix"

RUNNER = r"""
import json
import sys
import tempfile
import traceback
from pathlib import Path

sys.path.insert(0, MATRIX_DIR)
import matrix


def first_line(error):
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}"[:160]


def run(base_import):
    results = {"types": {}, "mistakes": {}}
    with tempfile.TemporaryDirectory() as directory:
        folder = Path(directory)
        for index, case in enumerate(matrix.TYPE_CASES):
            path = folder / f"type_{index}.yaml"
            try:
                source = matrix.type_case_source(case, base_import)
                config_class = matrix.make_module(source, f"compare_type_{index}").Config
                original = config_class()
                original.to_yaml(file_path=path)
                loaded = config_class.from_yaml(file_path=path)
                same = matrix.same(original.value, loaded.value)
                note = "" if same else f"loaded back {loaded.value!r}"[:160]
                results["types"][case.name] = {"ok": same, "note": note}
            except Exception as error:
                results["types"][case.name] = {"ok": False, "note": first_line(error)}
        for index, case in enumerate(matrix.MISTAKE_CASES):
            path = folder / f"mistake_{index}.yaml"
            path.write_text(case.document)
            source = matrix.class_source(case.fields, base_import)
            config_class = matrix.make_module(source, f"compare_mistake_{index}").Config
            try:
                config_class.from_yaml(file_path=path)
            except Exception as error:
                message = str(error)
                named = case.path == "<document>" or case.path in message
                located = named and f"line {case.line}" in message
                results["mistakes"][case.name] = {
                    "rejected": True, "located": located, "note": first_line(error)
                }
            else:
                results["mistakes"][case.name] = {
                    "rejected": False, "located": False, "note": "accepted silently"
                }
    return results


if __name__ == "__main__":
    print(json.dumps(run(sys.argv[1])))
"""


def reference_python() -> Path:
    """The reference venv's interpreter; the venv and the package are installed only if missing."""
    python = VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    probe = subprocess.run(
        [str(python), "-c", "import ataraxis_data_structures"], capture_output=True, check=False
    )
    if probe.returncode != 0:
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", REFERENCE], check=True)
    return python


def reference_version(python: Path) -> str:
    code = f"from importlib.metadata import version; print(version({REFERENCE!r}))"
    completed = subprocess.run([str(python), "-c", code], capture_output=True, text=True)
    return completed.stdout.strip()


def run_reference(python: Path) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as handle:
        handle.write(f"MATRIX_DIR = {str(MATRIX_DIR)!r}\n{RUNNER}")
        script = handle.name
    try:
        completed = subprocess.run(
            [str(python), script, "from ataraxis_data_structures import YamlConfig"],
            capture_output=True,
            text=True,
            check=False,
            timeout=600,
        )
    finally:
        os.unlink(script)
    if completed.returncode != 0:
        raise RuntimeError(f"reference runner failed:\n{completed.stderr[-3000:]}")
    return dict(json.loads(completed.stdout.strip().splitlines()[-1]))


def run_ours() -> dict[str, Any]:
    namespace: dict[str, Any] = {"__name__": "config_compare_runner", "MATRIX_DIR": str(MATRIX_DIR)}
    exec(compile(RUNNER, "<runner>", "exec"), namespace)
    return dict(namespace["run"]("from ataraxis_like.config import YamlConfig"))


def summary(reference: dict[str, Any], ours: dict[str, Any], version: str) -> str:
    """The comparison table, then the cases the reference misses and why."""

    def count(results: dict[str, Any], group: str, key: str) -> int:
        return sum(1 for case in results[group].values() if case[key])

    types, mistakes = len(ours["types"]), len(ours["mistakes"])
    rows = [
        ("type cases that round-trip (value and type)", "types", "ok", types),
        ("mistake cases rejected", "mistakes", "rejected", mistakes),
        ("mistake cases rejected naming path and line", "mistakes", "located", mistakes),
    ]
    lines = [
        "Cases from `tests/config/matrix.py`. A type case counts when the saved value loads back "
        "equal and of the same type; a mistake counts as rejected when loading raises, and as "
        "located when the message also names the dotted path and `line N`.",
        "",
        f"| cases handled | ataraxis-data-structures {version} | ours |",
        "|---|---:|---:|",
    ]
    for label, group, key, total in rows:
        lines.append(
            f"| {label} | {count(reference, group, key)} / {total} "
            f"| {count(ours, group, key)} / {total} |"
        )
    groups: dict[str, list[str]] = {}
    for group, key in (("types", "ok"), ("mistakes", "located")):
        for name, case in reference[group].items():
            if not case[key]:
                groups.setdefault(_reason(group, case["note"]), []).append(f"`{name}`")
    ours_misses = [
        name
        for group, key in (("types", "ok"), ("mistakes", "located"))
        for name, case in ours[group].items()
        if not case[key]
    ]
    lines += ["", f"Cases ours misses: {', '.join(ours_misses) or 'none'}.", ""]
    lines += ["Where the reference falls short, by reason:", ""]
    lines += [f"- {reason} ({len(names)}): {', '.join(names)}" for reason, names in groups.items()]
    return "\n".join(lines)


def _reason(group: str, note: str) -> str:
    """Folds notes that differ only in the Python tag named into one reason."""
    if "could not determine a constructor for the tag" in note:
        if group == "mistakes":
            return "refused the Python tag without naming the field"
        return "cannot read back its own file: it wrote a Python tag its safe loader refuses"
    if note == "accepted silently":
        return "accepted silently"
    return f"raised without naming path and line: {note}"


def machine() -> str:
    return (
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}, {time.strftime('%Y-%m-%d')}"
    )


def record(body: str) -> None:
    """Writes this section into RESULTS.md, replacing only an earlier copy of it."""
    results = BENCHMARKS / "RESULTS.md"
    text = results.read_text() if results.exists() else "# Benchmark results\n"
    command = "python benchmarks/config_compare.py --record"
    block = f"## {SECTION}\n\nMachine: {machine()}. Command: `{command}`.\n\n{body}\n"
    pattern = re.compile(rf"^## {re.escape(SECTION)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _match: block + "\n", text)
    else:
        text = text.rstrip("\n") + "\n\n" + block
    results.write_text(text.rstrip("\n") + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--record", action="store_true", help="write the table into RESULTS.md")
    arguments = parser.parse_args()
    python = reference_python()
    body = summary(run_reference(python), run_ours(), reference_version(python))
    print(body)
    if arguments.record:
        record(body)


if __name__ == "__main__":
    main()
