"""pypet's trajectory, as far as its users' code touches it: parameters with natural naming, an
exploration, results added inside a run, results read back after the runs."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ...errors import AtaraxisError
from ...experiment import ExperimentResults, ParameterError, Run

_RUN_PART = re.compile(r"^(\$|crun|runs|run_\d+|run_ALL|r_\d+)$")


class PypetCompatError(AtaraxisError, NotImplementedError):
    """A pypet feature this facade deliberately does not offer (the message says what to do)."""


def cartesian_product(
    parameter_dict: Mapping[str, Sequence[Any]], combined_parameters: Iterable[Any] = ()
) -> dict[str, list[Any]]:
    """Every combination of the listed values, as pypet gives it: a dict of equally long lists,
    the last name (or group of ``combined_parameters``, varied together) changing fastest."""
    groups = [(item,) if isinstance(item, str) else tuple(item)
              for item in (combined_parameters or list(parameter_dict))]  # fmt: skip
    columns: dict[str, list[Any]] = {name: [] for name in parameter_dict}
    per_group = [list(zip(*(parameter_dict[name] for name in group), strict=True))
                 for group in groups]  # fmt: skip
    for point in itertools.product(*per_group):
        for group, values in zip(groups, point, strict=True):
            for name, value in zip(group, values, strict=True):
                columns[name].append(value)
    return columns


def _strip(name: str) -> str:
    for prefix in ("parameters.", "par.", "config.", "conf."):
        if name.startswith(prefix):
            return name[len(prefix) :]
    return name


def result_name(name: str) -> str:
    """A pypet result name ("runs.$.z", "group.z", "results.z") as ours ("z", "group/z")."""
    parts = [part for part in name.split(".") if part and not _RUN_PART.match(part)]
    if parts and parts[0] == "results":
        parts = parts[1:]
    return "/".join(parts) or name


class _Group:
    """``traj.par.sim`` and the like: the parameters under a dotted prefix."""

    def __init__(self, values: Mapping[str, Any], prefix: str = "") -> None:
        self._values, self._prefix = values, prefix

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return lookup(self._values, f"{self._prefix}{name}")


def lookup(values: Mapping[str, Any], name: str) -> Any:
    """A parameter by its full dotted name, a group prefix, or a unique last part."""
    name = _strip(name)
    if name in values:
        return values[name]
    if any(key.startswith(name + ".") for key in values):
        return _Group(values, name + ".")
    matches = [key for key in values if key.rsplit(".", 1)[-1] == name]
    if len(matches) == 1:
        return values[matches[0]]
    shown = ", ".join(sorted(values)) or "none"
    raise AttributeError(
        f"no parameter {name!r} (parameters: {shown})"
        + (f"; {name!r} is ambiguous: {matches}" if matches else "")
    )


class _NaturalNaming:
    """Parameters read as pypet reads them: ``traj.x``, ``traj.par.sim.x``, ``traj.f_get``."""

    _values: dict[str, Any]

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return lookup(self.__dict__["_values"], name)

    @property
    def par(self) -> _Group:
        return _Group(self._values)

    parameters = par

    def f_get(self, name: str, fast_access: bool = True) -> Any:
        return lookup(self._values, name)


class Trajectory(_NaturalNaming):
    """The parameters, their exploration and (after ``f_run``) the results of one trajectory."""

    def __init__(self, name: str = "trajectory", comment: str = "") -> None:
        self.v_name, self.v_comment = name, comment
        self._values: dict[str, Any] = {}
        self._comments: dict[str, str] = {}
        self._explored: dict[str, list[Any]] = {}
        self.v_results: ExperimentResults | None = None

    def f_add_parameter(self, *args: Any, comment: str = "", **kwargs: Any) -> None:
        """``f_add_parameter("x", 1.0, comment=...)`` (a leading parameter class is ignored)."""
        if args and isinstance(args[0], type):
            args = args[1:]
        if not args:
            raise TypeError("f_add_parameter needs a name, e.g. f_add_parameter('x', 1.0)")
        name = _strip(str(args[0]))
        value = args[1] if len(args) > 1 else kwargs.pop("data", None)
        if kwargs:
            raise PypetCompatError(
                f"parameter {name!r}: several values in one parameter ({sorted(kwargs)}) are "
                "not supported; add one parameter per value"
            )
        self._values[name] = value
        self._comments[name] = comment

    f_add_config = f_add_parameter

    def f_explore(self, build_dict: Mapping[str, Sequence[Any]]) -> None:
        """Explore the given lists of values, run i taking the i-th value of each."""
        explored = {self._full_name(name): list(values) for name, values in build_dict.items()}
        lengths = {name: len(values) for name, values in explored.items()}
        if len(set(lengths.values())) > 1:
            raise ParameterError(
                f"explored lists must be equally long (got {lengths}); use cartesian_product "
                "for every combination"
            )
        self._explored.update(explored)

    def _full_name(self, name: str) -> str:
        name = _strip(name)
        if name in self._values:
            return name
        matches = [key for key in self._values if key.rsplit(".", 1)[-1] == name]
        if len(matches) != 1:
            raise ParameterError(
                f"explored parameter {name!r} was not added with f_add_parameter (parameters: "
                f"{', '.join(sorted(self._values)) or 'none'}); add it first"
            )
        return matches[0]

    # ---------------------------------------------------------------- what the experiment takes
    def defaults(self) -> dict[str, Any]:
        return dict(self._values)

    def exploration(self) -> list[dict[str, Any]]:
        names = list(self._explored)
        return [dict(zip(names, values, strict=True)) for values in
                zip(*self._explored.values(), strict=True)]  # fmt: skip

    def __len__(self) -> int:
        return len(next(iter(self._explored.values()), [None]))

    def f_get_explored_parameters(self) -> dict[str, list[Any]]:
        return {name: list(values) for name, values in self._explored.items()}

    @property
    def v_storage_service(self) -> str:
        return "ataraxis_like.experiment (HDF5, one writer)"

    @v_storage_service.setter
    def v_storage_service(self, service: Any) -> None:
        raise PypetCompatError(
            f"custom storage services ({type(service).__name__}) are not supported: results "
            "always go to the experiment's HDF5 file through its single writer; read them back "
            "with ExperimentResults.load(directory) and convert them there"
        )

    # ---------------------------------------------------------------- after the runs
    def f_get_from_runs(self, name: str, fast_access: bool = True) -> dict[str, Any]:
        """``{"run_00000003": value, ...}`` of a result over the completed runs."""
        if self.v_results is None:
            raise PypetCompatError(f"trajectory {self.v_name!r} has not run yet; call f_run first")
        indices, values = self.v_results.results(result_name(name))
        return {f"run_{index:08d}": value for index, value in zip(indices.tolist(), values,
                                                                   strict=True)}  # fmt: skip

    def f_store(self, *args: Any, **kwargs: Any) -> None:
        """Nothing to do: the environment stores every run as it ends."""


class SingleRun(_NaturalNaming):
    """What a pypet job receives: one point of the exploration and a place for its results."""

    def __init__(self, run: Run, name: str) -> None:
        self.v_idx, self.v_name = run.index, name
        self.v_crun = f"run_{run.index:08d}"
        self.v_run = run
        self._values = run.parameters
        self.results: dict[str, Any] = {}

    @property
    def v_logger(self) -> Any:
        return self.v_run.logger

    def f_add_result(self, *args: Any, comment: str = "", **kwargs: Any) -> None:
        """``f_add_result("z", value)`` or ``f_add_result("z", a=..., b=...)`` (stored as
        "z/a", "z/b"); a leading result class is ignored."""
        if args and isinstance(args[0], type):
            args = args[1:]
        if not args:
            raise TypeError("f_add_result needs a name, e.g. f_add_result('z', 42)")
        name = result_name(str(args[0]))
        if len(args) > 1:
            self.results[name] = args[1]
        for item, value in kwargs.items():
            self.results[f"{name}/{item}"] = value

    def f_add_derived_parameter(self, *args: Any, comment: str = "", **kwargs: Any) -> None:
        """Stored as a result under "derived_parameters/<name>"."""
        if args and isinstance(args[0], type):
            args = args[1:]
        self.f_add_result(f"derived_parameters.{args[0]}", *args[1:], **kwargs)

    def f_store(self, *args: Any, **kwargs: Any) -> None:
        """Nothing to do: the run's results are stored when it ends."""


class Job:
    """The user's job as an experiment function: it gets a ``SingleRun``; what it adds and
    returns becomes the run's results (a return value other than None as "return_value")."""

    def __init__(self, function: Any, name: str) -> None:
        self.function, self.name = function, name

    def __call__(self, run: Run, *args: Any, **kwargs: Any) -> dict[str, Any]:
        trajectory = SingleRun(run, self.name)
        value = self.function(trajectory, *args, **kwargs)
        results = dict(trajectory.results)
        if value is not None:
            results["return_value"] = value
        return results
