"""Parameter exploration runs: parallel, resumable, with provenance (docs/experiment.md)."""

from ._run import Outcome, Run
from .errors import ExperimentArgumentError, ExperimentError
from .params import ParameterError, ParameterSpace, cartesian_product, zipped
from .provenance import DirtyRepositoryError, GitCommitError, NotARepositoryError
from .results import ExperimentResults
from .runner import Experiment
from .upgrade import upgrade


def load(directory: str) -> ExperimentResults:
    """Shorthand for ``ExperimentResults.load(directory)``."""
    return ExperimentResults.load(directory)


Experiment.load = staticmethod(ExperimentResults.load)  # type: ignore[attr-defined]

__all__ = [
    "DirtyRepositoryError",
    "Experiment",
    "ExperimentArgumentError",
    "ExperimentError",
    "ExperimentResults",
    "GitCommitError",
    "NotARepositoryError",
    "Outcome",
    "ParameterError",
    "ParameterSpace",
    "Run",
    "cartesian_product",
    "load",
    "upgrade",
    "zipped",
]
