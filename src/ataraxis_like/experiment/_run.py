"""One run: call the user's function and describe what came of it as plain, picklable data.

Nothing here touches the results file: the ``Outcome`` travels to the experiment's single
writer (in this process, from a pool worker over a queue, or from an executor's worker as the
task's return value), which stores it. The run's recorder and logger are made on first use, so
a run that needs neither costs a function call and a few microseconds.
"""

from __future__ import annotations

import json
import logging
import os
import time
import traceback
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..hdf5._schema import array_for_write, normalize_key
from ..recorder import Recorder
from ..recorder.persist import save_into
from ._warnings import warnings_to

COMPLETED, FAILED = "completed", "failed"
_NAMES_OK: set[str] = set()  # result names already checked in this process


@dataclass(slots=True)
class Outcome:
    """How one run ended and everything it produced, ready for the writer."""

    index: int
    status: str
    started: float  # Unix time (s)
    duration_s: float
    error: str = ""
    results: dict[str, np.ndarray] = field(default_factory=dict)
    recorder: list[tuple[str, str, Any]] | None = None  # the recorder's save, as write orders
    log: str = ""  # the run's log text when it was kept in memory (executor workers)
    alerts: list[str] = field(default_factory=list)  # its warning and error lines
    pid: int = 0


def log_path(directory: Path, index: int) -> Path:
    """Where run ``index`` of the experiment in ``directory`` logs."""
    return directory / "logs" / f"run_{index:05d}.log"


class RunLog(logging.Handler):
    """A run's log: a file opened at the first message (silent runs make none), or lines kept
    in memory for the writer. Warning and error lines are also kept for the experiment's
    warnings log."""

    def __init__(self, path: Path | None, header: str) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        self.path = path
        self.header = header
        self.lines: list[str] = []
        self.alerts: list[str] = []
        self._stream: Any = None

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)
            if record.levelno >= logging.WARNING:
                self.alerts.append(f"{record.levelname}: {record.getMessage()}")
            if self.path is None:
                self.lines.append(text)
                return
            if self._stream is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._stream = open(self.path, "a", encoding="utf-8")  # noqa: SIM115
                self._stream.write(self.header + "\n")
            self._stream.write(text + "\n")
            self._stream.flush()
        except Exception:
            self.handleError(record)

    def text(self) -> str:
        return "".join(line + "\n" for line in [self.header, *self.lines]) if self.lines else ""

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()
            self._stream = None
        super().close()


class Run:
    """What the experiment function receives: index, parameters, recorder, logger, directory.

    ``run.x`` reads the parameter ``x``. ``recorder`` (a Recorder whose fields are the run's
    index and parameters) and ``logger`` (writing to ``logs/run_NNNNN.log``) are made on
    first use.
    """

    def __init__(
        self, index: int, parameters: dict[str, Any], directory: Path, in_memory: bool = False
    ) -> None:
        self.index = index
        self.parameters = parameters
        self.directory = directory
        self.extras: dict[str, Any] = {}
        self._in_memory = in_memory
        self._recorder: Recorder | None = None
        self._logger: logging.Logger | None = None
        self._log: RunLog | None = None
        self._began = time.time()

    def __getattr__(self, name: str) -> Any:
        parameters = self.__dict__.get("parameters", {})
        if name in parameters:
            return parameters[name]
        raise AttributeError(
            f"run {self.__dict__.get('index')} has no parameter {name!r} "
            f"(parameters: {', '.join(sorted(parameters))})"
        )

    @property
    def recorder(self) -> Recorder:
        if self._recorder is None:
            self._recorder = Recorder(run_index=self.index, **self.parameters)
        return self._recorder

    @property
    def logger(self) -> logging.Logger:
        """A logger of this run only (not registered with ``logging``: one per run would pile
        up there, and each registration clears every logger's level cache)."""
        if self._logger is None:
            stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self._began))
            header = f"{stamp} INFO run {self.index} started with {json.dumps(self.parameters)}"
            path = None if self._in_memory else log_path(self.directory, self.index)
            self._log = RunLog(path, header)
            self._logger = logging.Logger(f"ataraxis_like.experiment.run_{self.index:05d}")
            self._logger.addHandler(self._log)
        return self._logger

    def _show_warning(
        self,
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: Any = None,
        line: str | None = None,
    ) -> None:
        """Where a warning raised by the run goes: its own log, whatever another library did
        to ``warnings`` before."""
        text = warnings.formatwarning(message, category, filename, lineno, line)
        self.logger.warning("%s", text.rstrip("\n"))

    def __repr__(self) -> str:
        return f"Run({self.index}, {self.parameters!r})"


class _Capture:
    """Stands in for a sink while a recorder is saved: keeps the writes and attribute updates
    in order, for the experiment's writer to apply under the run's own key."""

    def __init__(self) -> None:
        self.orders: list[tuple[str, str, Any]] = []

    def write(self, key: str, array: Any) -> None:
        self.orders.append(("write", key, np.asarray(array)))

    def set_attrs(self, key: str, **attributes: Any) -> None:
        self.orders.append(("attrs", key, attributes))

    @contextmanager
    def grouped(self) -> Iterator[None]:
        yield


def capture_recorder(recorder: Recorder) -> list[tuple[str, str, Any]]:
    """The writes that save ``recorder`` under the key "r", for the writer to apply."""
    capture = _Capture()
    save_into(capture, recorder, "r")  # type: ignore[arg-type]
    return capture.orders


def _check_name(name: str) -> None:
    if name not in _NAMES_OK:
        normalize_key(f"results/{name}")
        _NAMES_OK.add(name)


def flatten(prefix: str, value: Any, out: dict[str, np.ndarray]) -> None:
    """Results as ``name -> array`` (nested dicts give "a/b" names); refuses what HDF5 cannot
    hold, so the run fails here with a clear error instead of in the writer."""
    if value is None:
        return
    if type(value) is dict or isinstance(value, Mapping):
        for name, item in value.items():
            flatten(f"{prefix}/{name}" if prefix else str(name), item, out)
        return
    _check_name(prefix)
    array = value if isinstance(value, np.ndarray) else np.asarray(value)
    if array.dtype.hasobject:
        raise TypeError(
            f"result {prefix!r} is {type(value).__name__}, which has no array form; return "
            "numbers, strings, numpy arrays or dicts of them"
        )
    if array.dtype.kind not in "biuf":
        array_for_write(f"results/{prefix}", array)  # refuses dtypes HDF5 cannot store
    out[prefix] = array


def execute(
    function: Callable[..., Any],
    index: int,
    parameters: dict[str, Any],
    directory: Path,
    args: tuple[Any, ...] = (),
    kwargs: Mapping[str, Any] | None = None,
    in_memory: bool = False,
) -> Outcome:
    """Run ``function(run, *args, **kwargs)`` for one parameter set; describe how it went."""
    run = Run(index, dict(parameters), directory, in_memory)
    started, began = run._began, time.perf_counter()
    status, error = COMPLETED, ""
    results: dict[str, np.ndarray] = {}
    try:
        with warnings_to(run._show_warning):  # each run logs its own warnings
            value = function(run, *args, **(kwargs or {}))
        mapping = type(value) is dict or isinstance(value, Mapping)
        flatten("", value if mapping else {"result": value}, results)
    except Exception as failure:  # the run is recorded as failed; the others go on
        status, results = FAILED, {}
        error = "".join(traceback.format_exception(failure))
        run.logger.error("run %d failed:\n%s", index, error.rstrip("\n"))
        run._log.alerts.pop()  # type: ignore[union-attr]  # the writer reports failures itself
    duration = time.perf_counter() - began
    orders = None
    if status == COMPLETED and run._recorder is not None and len(run._recorder.records):
        orders = capture_recorder(run._recorder)
    outcome = Outcome(index, status, started, duration, error, results, orders, pid=os.getpid())
    if run._log is not None:
        run.logger.info("run %d %s in %.3f s", index, status, duration)
        outcome.log, outcome.alerts = run._log.text(), run._log.alerts
        run._log.close()
    return outcome


def execute_many(
    function: Callable[..., Any],
    orders: list[tuple[int, dict[str, Any]]],
    directory: Path,
    args: tuple[Any, ...] = (),
    kwargs: Mapping[str, Any] | None = None,
) -> list[Outcome]:
    """An executor's task: several runs in a row, their logs kept in memory for the writer."""
    return [
        execute(function, index, parameters, directory, args, kwargs, in_memory=True)
        for index, parameters in orders
    ]
