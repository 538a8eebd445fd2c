"""Safe YAML in and out: parsing that keeps line numbers, writing with comments, atomic saves.

Parsing composes ``SafeLoader`` nodes and builds plain data itself, so every value keeps its line
and a node with any tag outside the YAML core set (``!!python/...``, local ``!tags``) is refused by
name before anything is constructed. Duplicate keys, recursive aliases and alias bombs are
refused too. Writing uses ``SafeDumper`` with block style, rows of numbers in flow style, quotes on
every string another YAML reader could take for a number, bool or null, and field docs as comments.
"""

from __future__ import annotations

import os
import re
import secrets
import stat
from pathlib import Path
from typing import Any, Final

import yaml

from .._files import FILE_MODE
from ._errors import ConfigFileError, ConfigNotFoundError, KeyPath, Problem, format_path
from ._loader import MAX_DEPTH, Ambiguous, DepthError, Loader, is_ambiguous, plain_kind
from ._spec import Location, Locator

_CORE: Final = "tag:yaml.org,2002:"
_SCALAR_TAGS: Final = frozenset(
    _CORE + name for name in ("null", "bool", "int", "float", "str", "binary", "timestamp")
)
_ODD_BREAKS: Final = re.compile("[\r\x85\u2028\u2029]")
_WORD_TAGS: Final = frozenset({_CORE + "bool", _CORE + "null"})
_MAX_REPEATS: Final = 100_000
MAX_BYTES: Final = 1 << 20
"""Default size limit of a config file: PyYAML reads about 1 MB/s, and configs are small."""
_AMBIGUOUS: Final = re.compile(
    r"[-+]?(?:\.?[0-9]|\.inf|\.nan)[0-9a-zA-Z_.:+-]*|(?i:y|n|yes|no|on|off|true|false|null|~)"
)


class _Walker:
    """Builds plain data from a composed node tree, recording where each value stands."""

    def __init__(self, loader: Loader) -> None:
        self.loader = loader
        self.locations: dict[KeyPath, Location] = {}
        self.problems: list[Problem] = []
        self.active: set[int] = set()
        self.seen: set[int] = set()
        self.repeats = 0

    def refuse(self, node: yaml.Node, path: KeyPath, expected: str, found: str) -> None:
        line = node.start_mark.line + 1
        self.problems.append(Problem(format_path(path), line, expected, found))

    def walk(self, node: yaml.Node, path: KeyPath) -> Any:
        if id(node) in self.seen:
            self.repeats += 1
            if self.repeats > _MAX_REPEATS:
                if self.repeats == _MAX_REPEATS + 1:
                    found = f"aliases that repeat over {_MAX_REPEATS:,} values"
                    self.refuse(node, path, "a config-sized document", found)
                return None
        self.seen.add(id(node))
        if id(node) in self.active:
            self.refuse(node, path, "a finite document", "an alias that contains itself")
            return None
        self.locations.setdefault(path, Location(node.start_mark.line + 1, node.start_mark.column))
        if isinstance(node, yaml.ScalarNode):
            return self.scalar(node, path)
        expected_tag = _CORE + ("map" if isinstance(node, yaml.MappingNode) else "seq")
        if node.tag != expected_tag:
            self.refuse(node, path, "plain YAML without tags", _tag(node.tag))
            return None
        self.active.add(id(node))
        try:
            if isinstance(node, yaml.MappingNode):
                return self.mapping(node, path)
            return [self.walk(item, (*path, index)) for index, item in enumerate(node.value)]
        finally:
            self.active.discard(id(node))

    def scalar(self, node: yaml.ScalarNode, path: KeyPath) -> Any:
        if node.tag not in _SCALAR_TAGS:
            self.refuse(node, path, "plain YAML without tags", _tag(node.tag))
            return None
        try:
            value = self.loader.construct_object(node)
        except Exception:
            kind = node.tag.removeprefix(_CORE)
            self.refuse(node, path, f"a valid {kind}", repr(node.value))
            return None
        if is_ambiguous(node):
            return Ambiguous(node.value, node.tag.removeprefix(_CORE), value)
        return value

    def mapping(self, node: yaml.MappingNode, path: KeyPath) -> dict[Any, Any]:
        result: dict[Any, Any] = {}
        keys: dict[int, Any] = {}
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag == _CORE + "merge":
                continue
            key = self.key(key_node, path)
            if key in seen:
                self.refuse(key_node, (*path, key), "each key once", "a duplicate key")
            seen.add(key)
            keys[id(key_node)] = key
        try:
            self.loader.flatten_mapping(node)
        except yaml.YAMLError as error:
            self.refuse(node, path, "a valid merge (<<) of mappings", str(error).splitlines()[0])
            return result
        for key_node, value_node in node.value:
            key = keys[id(key_node)] if id(key_node) in keys else self.key(key_node, path)
            child = (*path, key)
            raw = value_node.value if isinstance(value_node, yaml.ScalarNode) else None
            line, column = key_node.start_mark.line + 1, key_node.start_mark.column
            self.locations[child] = Location(line, column, raw)
            result[key] = self.walk(value_node, child)
        return result

    def key(self, node: yaml.Node, path: KeyPath) -> Any:
        """A mapping key; plain ``on``, ``no`` or ``null`` stay strings (field names, not bools)."""
        if isinstance(node, yaml.ScalarNode) and node.tag in _WORD_TAGS and node.style is None:
            return node.value
        if isinstance(node, yaml.ScalarNode) and node.tag in _SCALAR_TAGS:
            try:
                key = self.loader.construct_object(node)
                hash(key)
            except Exception:
                pass
            else:
                if not is_ambiguous(node):
                    return key
                unsure = Ambiguous(node.value, node.tag.removeprefix(_CORE), key)
                expected = "a key in its one written form"
                self.problems.append(Problem(format_path((*path, node.value)),
                                             node.start_mark.line + 1, expected,
                                             unsure.describe(), unsure.hint()))  # fmt: skip
                return node.value
        self.refuse(node, path, "a plain scalar key", f"a {type(node).__name__} key")
        return f"<bad key on line {node.start_mark.line + 1}>"


def _tag(tag: str) -> str:
    return "the tag " + (f"!!{tag.removeprefix(_CORE)}" if tag.startswith(_CORE) else tag)


def parse(text: str) -> tuple[Any, Locator, list[Problem]]:
    """Plain data of a single-document YAML text, where each value came from, and problems."""
    try:
        loader = Loader(text)
    except yaml.reader.ReaderError as error:
        row = text[: error.position].count("\n") + 1
        found = f"the character {error.character:#06x}, which YAML does not allow"
        return None, Locator(), [Problem("<document>", row, "printable text", found)]
    try:
        root = loader.get_single_node()
        walker = _Walker(loader)
        data = walker.walk(root, ()) if root is not None else None
        return data, Locator(walker.locations), walker.problems
    except DepthError as error:
        line = error.problem_mark.line + 1 if error.problem_mark is not None else None
        expected = f"at most {MAX_DEPTH} levels of nesting"
        return None, Locator(), [Problem("<document>", line, expected, "deeper nesting")]
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark is not None else None
        found = " ".join(part for part in (error.context, error.problem) if part)
        return None, Locator(), [Problem("<document>", line, "valid YAML", found)]
    except yaml.YAMLError as error:
        return None, Locator(), [Problem("<document>", None, "valid YAML", str(error))]
    finally:
        loader.dispose()


class _Dumper(yaml.SafeDumper):
    """SafeDumper that indents lists under their key and never writes anchors or aliases."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _represent_str(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    style = "|" if "\n" in data.strip("\n") else None
    if _ODD_BREAKS.search(data):
        style = '"'
    elif style is None and (_AMBIGUOUS.fullmatch(data) or plain_kind(data) != "str"):
        style = "'"
    return dumper.represent_scalar(_CORE + "str", data, style=style)


def _represent_list(dumper: yaml.SafeDumper, data: list[Any]) -> yaml.SequenceNode:
    flow = all(not isinstance(item, list | dict | bytes) for item in data)
    return dumper.represent_sequence(_CORE + "seq", data, flow_style=flow)


_Dumper.add_representer(str, _represent_str)
_Dumper.add_representer(list, _represent_list)


def emit(data: object, docs: dict[KeyPath, str]) -> str:
    """YAML text for plain ``data``, with each ``docs`` entry as a comment above its key."""
    text = yaml.dump(
        data,
        Dumper=_Dumper,
        default_flow_style=False,
        sort_keys=False,
        allow_unicode=True,
        width=1 << 16,
    )
    if not docs:
        return text
    _, locator, _ = parse(text)
    lines = text.splitlines(keepends=True)
    placed = sorted(
        ((locator.locations[path], doc) for path, doc in docs.items() if path in locator.locations),
        key=lambda item: item[0].line or 0,
        reverse=True,
    )
    for location, doc in placed:
        row = (location.line or 1) - 1
        indent = " " * location.column
        comment = "".join(f"{indent}# {part}".rstrip() + "\n" for part in doc.splitlines())
        lines.insert(row, comment)
    return "".join(lines)


def read_document(path: Path, max_bytes: int) -> bytes | Problem:
    """The bytes of the config file at ``path``, or the problem that keeps it from being read:
    not a regular file (a FIFO would block the reader forever, a device never end) or larger
    than ``max_bytes``. The file is opened without blocking and checked before any read."""
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise ConfigNotFoundError(
            f"there is no config file at {path}; check the path or save one with to_yaml",
            path=str(path),
        ) from None
    except OSError as error:
        raise ConfigFileError(
            f"cannot open config file {path}: {error.strerror}", path=str(path), errno=error.errno
        ) from None
    status = os.fstat(descriptor)
    if not stat.S_ISREG(status.st_mode):
        os.close(descriptor)
        found = _file_kind(status.st_mode)
        return Problem("<document>", None, "a regular file", found, "pass the config's path")
    try:
        with os.fdopen(descriptor, "rb") as handle:
            data = handle.read(max_bytes + 1)
    except OSError as error:
        raise ConfigFileError(
            f"cannot read config file {path}: {error.strerror}", path=str(path), errno=error.errno
        ) from None
    if len(data) > max_bytes:
        found = f"{max(status.st_size, len(data)):,} bytes"
        hint = "pass from_yaml(..., max_bytes=...) to read a larger config"
        return Problem("<document>", None, f"at most {max_bytes:,} bytes (max_bytes)", found, hint)
    return data


def _file_kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a named pipe (FIFO)"),
                       (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device")):  # fmt: skip
        if test(mode):
            return name
    return "not a regular file"


def atomic_write(path: Path, text: str, file_mode: int = FILE_MODE) -> None:
    """Replaces ``path`` with ``text`` so that a crash leaves either the old or the new file.

    Missing parent directories are created. The data goes to a temporary file in the same
    directory, is flushed and fsynced, renamed over the target, and the directory is fsynced.
    An existing file keeps its permission bits; a new one gets ``file_mode`` (0600 by default).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, file_mode)
    try:
        try:
            if path.exists():
                os.fchmod(fd, stat.S_IMODE(path.stat().st_mode))
            data = text.encode("utf-8")
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
