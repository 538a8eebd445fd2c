"""pypet's ``Environment`` on top of ``Experiment``: its arguments, ``f_run`` and
``f_continue_run``.

Where the results go: ``filename`` (default ``./hdf5/<trajectory>.hdf5``) names a folder (its
suffix dropped) holding one experiment directory per trajectory, ``<folder>/<trajectory>/``
with ``results.h5`` and ``logs/``. Every environment is resumable (pypet's ``continuable``):
``f_continue_run`` runs what a crash left undone, with no pickled state (the job is passed
again when the process is new).
"""

from __future__ import annotations

import threading
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ...experiment import Experiment, ExperimentResults
from . import pypetconstants
from ._trajectory import Job, PypetCompatError, Trajectory


def _compression(complevel: int, complib: str | None) -> str | int | None:
    """pypet's PyTables compression as the sink's: zlib levels are gzip levels."""
    if not complevel:
        return None
    if complib == "lzf":
        return "lzf"
    if complib not in (None, "zlib", "gzip"):
        warnings.warn(f"complib {complib!r} is not available with h5py here; using gzip level "
                      f"{complevel}", UserWarning, stacklevel=3)  # fmt: skip
    return int(complevel)


def _folder(filename: str | None, trajectory: str) -> Path:
    if filename is None:
        return Path("hdf5") / trajectory
    path = Path(filename)
    if filename.endswith(("/", "\\")) or path.is_dir():
        return path / trajectory
    return path.with_suffix("")


class Environment:
    """``Environment(trajectory="trajectory", ...)`` with pypet's arguments; see the module
    docstring for where results go and docs/migrating-from-pypet.md for each argument."""

    def __init__(
        self,
        trajectory: str | Trajectory = "trajectory",
        add_time: bool = True,
        comment: str = "",
        dynamically_imported_classes: Any = None,
        log_folder: str | None = None,
        multiproc: bool = False,
        ncores: int = 1,
        use_pool: bool = True,
        wrap_mode: str = pypetconstants.WRAP_MODE_LOCK,
        continuable: bool | int = True,
        use_hdf5: bool = True,
        filename: str | None = None,
        file_title: str | None = None,
        complevel: int = 9,
        complib: str | None = "zlib",
        purge_duplicate_comments: bool = True,
        summary_tables: bool = True,
        small_overview_tables: bool = True,
        large_overview_tables: bool = True,
        results_per_run: int = 0,
        derived_parameters_per_run: int = 0,
        git_repository: str | None = None,
        git_message: str = "",
        git_fail: bool = False,
        lazy_debug: bool = False,
        **_accepted: Any,
    ) -> None:
        if wrap_mode not in pypetconstants.WRAP_MODES:
            raise ValueError(f"wrap_mode must be one of {pypetconstants.WRAP_MODES} (got "
                             f"{wrap_mode!r})")  # fmt: skip
        if not use_hdf5:
            raise PypetCompatError(
                "use_hdf5=False (a custom storage service) is not supported: results always go "
                "to HDF5 through the experiment's single writer; leave use_hdf5 out"
            )
        if isinstance(trajectory, Trajectory):
            self.v_trajectory = trajectory
        else:
            name = trajectory
            if add_time:
                name += time.strftime("_%Y_%m_%d_%Hh%Mm%Ss")
            self.v_trajectory = Trajectory(name, comment)
        self.trajectory = self.v_trajectory
        self.v_file = filename
        self.v_log_folder = log_folder
        self._processes = max(1, int(ncores)) if multiproc else 1
        self._options: dict[str, Any] = {
            "repository": git_repository,
            "git_message": git_message if git_repository is not None else None,
            "require_clean": git_fail,
            "comment": comment,
            "compression": _compression(complevel, complib),
        }
        self._job: tuple[Any, tuple[Any, ...], dict[str, Any]] | None = None
        self.v_experiment: Experiment | None = None

    def _folder(self, name: str | None = None) -> Path:
        return _folder(self.v_file, name or self.v_trajectory.v_name)

    def _experiment(self, name: str | None = None) -> Experiment:
        """This trajectory's experiment, or (resuming another trajectory, or this one without
        parameters added in this process) the one stored in the trajectory's folder."""
        folder = self._folder(name)
        own = name is None or name == self.v_trajectory.v_name
        if not own or not self.v_trajectory.defaults():
            stored = ExperimentResults.load(folder)
            return Experiment(stored.name, folder, stored.defaults, stored.exploration,
                              **self._options)  # fmt: skip
        trajectory = self.v_trajectory
        return Experiment(trajectory.v_name, folder, trajectory.defaults(),
                          trajectory.exploration(), **self._options)  # fmt: skip

    def f_run(self, runfunc: Any, *args: Any, **kwargs: Any) -> list[tuple[int, Any]]:
        """Run ``runfunc(traj, *args, **kwargs)`` for every point not done yet; returns
        ``(run index, return value)`` of the completed runs, as pypet does."""
        self._job = (runfunc, args, kwargs)
        return self._run(self._experiment())

    run = f_run

    def f_continue_run(
        self, trajectory_name: str | None = None, runfunc: Any = None, *args: Any, **kwargs: Any
    ) -> list[tuple[int, Any]]:
        """Run what an interrupted ``f_run`` left undone. ``trajectory_name`` (pypet: the name
        of its .cnt file) defaults to this environment's trajectory; ``runfunc`` (and its
        arguments) to the job of this environment's last ``f_run``: a new process passes it,
        since nothing is unpickled from disk."""
        if trajectory_name is not None:
            trajectory_name = Path(trajectory_name).name.removesuffix(".cnt")
        if runfunc is not None:
            self._job = (runfunc, args, kwargs)
        if self._job is None:
            raise PypetCompatError(
                "f_continue_run needs the job function in a new process (nothing is unpickled "
                "from disk): call env.f_continue_run(trajectory_name, job, *args, **kwargs)"
            )
        return self._run(self._experiment(trajectory_name))

    resume = f_continue_run

    def _run(self, experiment: Experiment) -> list[tuple[int, Any]]:
        assert self._job is not None
        function, args, kwargs = self._job
        self.v_experiment = experiment
        fork = not [t for t in threading.enumerate() if t is not threading.current_thread()]
        experiment.run(Job(function, experiment.name), processes=self._processes,
                       start_method="fork" if fork else "spawn", args=args,
                       kwargs=kwargs)  # fmt: skip
        results = ExperimentResults.load(experiment.directory)
        self.v_trajectory.v_results = results
        values: dict[int, Any] = {row["index"]: None for row in results.runs
                                  if row["status"] == "completed"}  # fmt: skip
        if "return_value" in results.result_names():
            indices, returned = results.results("return_value")
            values.update(
                (index, value.item() if isinstance(value, np.generic) else value)
                for index, value in zip(indices.tolist(), returned, strict=True)
            )
        return sorted(values.items())

    def f_disable_logging(self) -> None:
        """Nothing to close: the experiment's log files are closed when each run call ends."""

    disable_logging = f_disable_logging

    def __enter__(self) -> Environment:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.f_disable_logging()

    def __repr__(self) -> str:
        return f"Environment({self.v_trajectory.v_name!r}, folder={str(self._folder())!r})"
