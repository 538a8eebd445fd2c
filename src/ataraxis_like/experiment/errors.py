"""The experiment's errors (also the builtins a caller would catch)."""

from __future__ import annotations

from ..errors import AtaraxisError


class ExperimentError(AtaraxisError, RuntimeError):
    """The experiment cannot run as asked (changed parameters, a lost worker, ...)."""


class ExperimentArgumentError(AtaraxisError, TypeError):
    """``run`` was called with arguments it does not take (its options are keyword-only)."""
