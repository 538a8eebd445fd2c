"""Dataclass configs in human-editable YAML that read back exactly and reject every mistake.

Subclass ``YamlConfig`` in a ``@dataclass``; ``config.to_yaml(path)`` saves it and
``MyConfig.from_yaml(path, overrides=["camera.fps=60"])`` loads it. A load that finds mistakes
raises one ``ConfigError`` (a ``ValueError``) listing each with its dotted path and line.

Decisions the design had to make (docs/config.md explains each):

- A document is a single YAML mapping of the class's fields. Only core YAML tags are read (null,
  bool, int, float, str, binary, timestamp, seq, map); any other tag is refused, never built.
- Each type has one written form, and loading accepts only that form: ``010``, ``0x1F``,
  ``1:20``, ``1_000`` and ``yes``/``no``/``on``/``off`` (which YAML 1.1 and 1.2 read
  differently) are refused unless quoted; a bool field declared ``Annotated[bool, YES_NO]``
  reads the words. Documents deeper than 100 levels, files over ``max_bytes`` (1 MiB) and
  paths that are not regular files are refused before parsing.
- Enums are written by value; bytes as ``!!binary``; dates and
  datetimes as YAML timestamps (time zones kept as UTC offsets); paths as strings with forward
  slashes; tuples and sets as lists (sets sorted); numpy values as numbers or nested lists.
- The only widening on load is an int where a float is declared, when the float holds it
  exactly. Saving applies the same rules, so a value that would not read back is refused.
- Strings that any YAML reader might take for something else (``yes``, ``null``, ``1e3``,
  ``0o17``) are quoted. Keys keep field order; ``field.metadata["doc"]`` becomes a comment.
- Reading is PyYAML's safe YAML 1.1 plus YAML 1.2 exponent floats (``1e-3``); bare mapping keys
  ``on``, ``no``, ``null`` ... stay strings, so they can name fields.
- A bare ``np.ndarray`` field takes its dtype from its default, else float64; name the dtype
  with ``numpy.typing.NDArray[np.float32]`` to be explicit.
- Saving is atomic (temporary file, fsync, rename, directory fsync) and creates missing parent
  directories. An existing file keeps its permissions; a new one is owner-only (0600) unless
  ``file_mode`` says otherwise.
- Missing fields take their defaults, so a file written by an older class still loads; unknown
  keys are errors unless ``allow_unknown=True``. Overrides must always name declared fields.
"""

from ._base import YamlConfig
from ._errors import ConfigError, ConfigFileError, ConfigNotFoundError, Problem
from ._scalars import YES_NO

__all__ = [
    "YES_NO",
    "ConfigError",
    "ConfigFileError",
    "ConfigNotFoundError",
    "Problem",
    "YamlConfig",
]
