"""What ``ataraxis-like inspect`` shows of a YAML config: every key, its value, type and line.

A file names no class, so the document is read as plain data with the same safe reader that
``YamlConfig`` uses: only core YAML tags, nothing constructed from a tag.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .._inspection import CONFIG, InspectError, Inspection, plain, short
from ._errors import KeyPath, format_path
from ._yaml_io import parse


def inspect_config(path: Path) -> Inspection:
    """The document as nested data, and one row per leaf value: dotted key, value, type, line."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise InspectError(f"{path} cannot be read as text: {error}", path=str(path)) from None
    data, locator, problems = parse(text)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise InspectError(f"{path}: {problems[0]}{more}", path=str(path))
    if not isinstance(data, dict):
        found = "an empty document" if data is None else f"a {type(data).__name__}"
        raise InspectError(
            f"{path}: expected a YAML mapping of config fields, got {found}", path=str(path)
        )
    rows: list[dict[str, Any]] = []
    _leaves(data, (), rows, locator.locations)
    lines = [f"{path}: YAML config, {len(data)} top-level key(s), {len(rows)} value(s)"]
    if rows:
        width = max(len("key"), *(len(row["key"]) for row in rows))
        lines.append(f"{'key':<{width}} {'line':>5}  {'type':<9} value")
        lines.extend(
            f"{row['key']:<{width}} {row['line'] or '':>5}  {row['type']:<9} "
            f"{short(row['value'], 70)}"
            for row in rows
        )
    return Inspection(CONFIG, path, {"document": plain(data), "values": rows}, lines)


def _leaves(value: Any, key: KeyPath, rows: list[dict[str, Any]], where: dict[Any, Any]) -> None:
    if isinstance(value, dict) and value:
        for name, item in value.items():
            _leaves(item, (*key, name), rows, where)
        return
    location = where.get(key)
    rows.append({
        "key": format_path(key) or "<document>",
        "line": None if location is None else location.line,
        "type": type(value).__name__ if value is not None else "null",
        "value": plain(value),
    })  # fmt: skip
