"""``YamlConfig``: the mixin that gives a dataclass strict, exact YAML saving and loading."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Self

from .._files import FILE_MODE, check_file_mode
from ._compile import dataclass_spec
from ._errors import ConfigError, Problem, describe
from ._overrides import apply_overrides
from ._spec import DumpContext, LoadContext
from ._yaml_io import MAX_BYTES, atomic_write, emit, parse, read_document


class YamlConfig:
    """Base for ``@dataclass`` configs kept in human-editable YAML files.

    ``to_yaml`` writes the fields in declaration order, each field's ``metadata["doc"]`` as a
    comment above it, atomically. ``from_yaml`` reads the file back with the exact declared types
    and raises one ``ConfigError`` listing every mistake with its dotted path and line.
    """

    def to_yaml(self, file_path: str | os.PathLike[str], *, file_mode: int = FILE_MODE) -> None:
        """Saves this config to ``file_path`` (parent directories are created). A new file gets
        ``file_mode`` (owner-only by default); a replaced one keeps its mode.

        Raises:
            ConfigError: A field holds a value its annotation does not allow (nothing is written).
            TypeError: The class is not a dataclass or declares a type that has no YAML form.
        """
        path = Path(file_path)
        check_file_mode(file_mode)
        spec = dataclass_spec(type(self))
        ctx = DumpContext()
        plain = spec.dump(self, (), ctx)
        if ctx.problems:
            action = f"cannot save {type(self).__name__} to {path}"
            raise ConfigError.from_problems(action, ctx.problems, str(path))
        atomic_write(path, emit(plain, ctx.docs), file_mode)

    @classmethod
    def from_yaml(
        cls,
        file_path: str | os.PathLike[str],
        *,
        overrides: Sequence[str] = (),
        allow_unknown: bool = False,
        max_bytes: int = MAX_BYTES,
    ) -> Self:
        """Loads a config from ``file_path`` and applies ``overrides`` such as ``"camera.fps=60"``.

        Fields absent from the file take their defaults. With ``allow_unknown``, keys the class
        does not declare are ignored instead of reported (overrides must still name real fields).
        A file larger than ``max_bytes`` (1 MiB by default) or not a regular file is refused.

        Raises:
            ConfigError: The file or an override breaks the declared types; lists every problem.
            ConfigNotFoundError: There is no file at ``file_path`` (a FileNotFoundError).
            ConfigFileError: The file cannot be opened or read (an OSError).
            TypeError: The class is not a dataclass or declares a type that has no YAML form.
        """
        if isinstance(overrides, str):
            raise TypeError("overrides must be a list of 'key=value' strings, not one string")
        path = Path(file_path)
        spec = dataclass_spec(cls)
        raw = read_document(path, max_bytes)
        if isinstance(raw, Problem):
            raise ConfigError.from_problems(f"cannot load {cls.__name__} from {path}", [raw],
                                            str(path))  # fmt: skip
        problems: list[Problem] = []
        try:
            data, locator, problems = parse(raw.decode("utf-8-sig"))
        except UnicodeDecodeError as error:
            line = raw[: error.start].count(b"\n") + 1
            found = f"byte {raw[error.start]:#04x} that is not UTF-8"
            problems = [Problem("<document>", line, "UTF-8 text", found)]
        if not problems and not isinstance(data, dict):
            found = "an empty document" if data is None else describe(data)
            problems = [Problem("<document>", 1, f"a mapping of {cls.__name__} fields", found)]
        if not problems:
            origins, override_problems = apply_overrides(data, spec, overrides)
            locator.overrides.update(origins)
            ctx = LoadContext(locator, allow_unknown)
            config = spec.load(data, (), ctx)
            problems = sorted(ctx.problems, key=_by_line) + override_problems
        if problems:
            action = f"cannot load {cls.__name__} from {path}"
            raise ConfigError.from_problems(action, problems, str(path))
        assert isinstance(config, cls)
        return config


def _by_line(problem: Problem) -> float:
    """Sort key putting file problems in line order and the rest (overrides) after them."""
    return problem.line if problem.line is not None else float("inf")
