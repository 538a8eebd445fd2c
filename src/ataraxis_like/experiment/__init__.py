"""Parameter exploration runs: parallel, resumable, with provenance (docs/experiment.md)."""

from .params import ParameterError, ParameterSpace, cartesian_product, zipped
from .provenance import DirtyRepositoryError, NotARepositoryError
from .results import ExperimentResults
from .runner import Experiment, ExperimentError, Run


def load(directory: str) -> ExperimentResults:
    """Shorthand for ``ExperimentResults.load(directory)``."""
    return ExperimentResults.load(directory)


Experiment.load = staticmethod(ExperimentResults.load)  # type: ignore[attr-defined]

__all__ = [
    "DirtyRepositoryError",
    "Experiment",
    "ExperimentError",
    "ExperimentResults",
    "NotARepositoryError",
    "ParameterError",
    "ParameterSpace",
    "Run",
    "cartesian_product",
    "load",
    "zipped",
]
