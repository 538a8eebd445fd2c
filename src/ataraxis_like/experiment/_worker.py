"""One run of an experiment: call the user's function, then store its outcome through the sink.

A run's group ``runs/rNNNNN`` receives the result arrays and the run's recorder first and its
``status`` attribute last. The sink's writer commits records in the order they were put, so a run
counts as done exactly when that attribute is in the file; a run cut short by a crash is simply
run again (its arrays are replaced). No flush per run is needed for that.
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

from .._files import touch_new
from ..hdf5._schema import array_for_write, normalize_key
from ..recorder import Recorder
from ..recorder.persist import save_into
from .provenance import utc_now


def run_key(index: int) -> str:
    return f"runs/r{index:05d}"


@dataclass
class Run:
    """What the experiment function receives: the run's index, parameters, recorder and logger."""

    index: int
    parameters: dict[str, Any]
    recorder: Recorder
    logger: logging.Logger
    directory: Path
    extras: dict[str, Any] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        """``run.x`` reads the parameter ``x``."""
        parameters = self.__dict__.get("parameters", {})
        if name in parameters:
            return parameters[name]
        raise AttributeError(
            f"run {self.__dict__.get('index')} has no parameter {name!r} "
            f"(parameters: {', '.join(sorted(parameters))})"
        )


def _flatten(prefix: str, value: Any, out: dict[str, np.ndarray]) -> None:
    if value is None:
        return
    if isinstance(value, Mapping):
        for name, item in value.items():
            _flatten(f"{prefix}/{name}", item, out)
        return
    array = np.asarray(value)
    if array.dtype.hasobject:
        raise TypeError(
            f"result {prefix!r} is {type(value).__name__}, which has no array form; return "
            "numbers, strings, numpy arrays or dicts of them"
        )
    out[prefix] = array


def log_path(directory: Path, index: int) -> Path:
    """Where run ``index`` of the experiment in ``directory`` logs."""
    return directory / "logs" / f"run_{index:05d}.log"


def _run_logger(directory: Path, index: int) -> tuple[logging.Logger, logging.Handler]:
    """A logger writing to ``logs/run_NNNNN.log``. It is not registered with ``logging`` (one
    per run would pile up there, and each registration clears every logger's level cache)."""
    path = log_path(directory, index)
    path.parent.mkdir(parents=True, exist_ok=True)
    touch_new(path)  # owner-only, as every file the library writes (logging would use the umask)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger = logging.Logger(f"ataraxis_like.experiment.run_{index:05d}", logging.DEBUG)
    logger.addHandler(handler)
    logging.getLogger("py.warnings").addHandler(handler)  # warnings land in the run's log too
    return logger, handler


def _log_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: Any = None,
    line: str | None = None,
) -> None:
    """Show a warning raised by a run as ``logging.captureWarnings`` would: on "py.warnings",
    where the run's log listens, whatever another library did to ``warnings`` before."""
    text = warnings.formatwarning(message, category, filename, lineno, line)
    logging.getLogger("py.warnings").warning("%s", text)


def execute(
    function: Callable[[Run], Any],
    index: int,
    parameters: dict[str, Any],
    directory: Path,
    client: Any,
) -> dict[str, Any]:
    """Run ``function`` for one parameter set and store everything; returns the run's summary."""
    logger, handler = _run_logger(directory, index)
    recorder = Recorder(run_index=index, **parameters)
    run = Run(index, dict(parameters), recorder, logger, directory)
    key = run_key(index)
    started, began = utc_now(), time.perf_counter()
    status, error = "completed", ""
    values: dict[str, Any] = {}
    logger.info("run %d started with %s", index, json.dumps(parameters))
    try:
        with warnings.catch_warnings():  # a fresh registry: each run logs its own warnings
            warnings.showwarning = _log_warning  # undone on leaving the block
            outcome = function(run)
        if not isinstance(outcome, Mapping):
            outcome = {"result": outcome}  # a dict's entries are stored by name, else "result"
        _flatten(f"{key}/result", outcome, values)
    except Exception as failure:  # the run is recorded as failed; the others go on
        status = "failed"
        error = "".join(traceback.format_exception(failure))
        logger.error("run %d failed:\n%s", index, error)
    duration = time.perf_counter() - began
    stored: dict[str, Any] = {"results": [], "recorder": False}
    with client.grouped():  # one reopening of the file for the whole run
        try:
            client.write(f"{key}/index", np.asarray(index))
            for name, array in values.items():
                client.write(name, array)
                stored["results"].append(name[len(key) + len("/result/") :])
            if status == "completed" and len(recorder.records):
                save_into(client, recorder, f"{key}/recorder")
                stored["recorder"] = True
        except OSError:
            raise  # the file or the disk failed: the run stays pending, the experiment stops
        except Exception as failure:  # a result the file cannot hold fails its run only
            status = "failed"
            error = f"the run's results could not be stored: {failure}"
            logger.error("run %d failed: %s", index, error)
        client.set_attrs(
            key,
            parameters=json.dumps(parameters),
            duration_s=duration,
            started=started,
            ended=utc_now(),
            error=error,
            stored=json.dumps(stored),  # what this attempt wrote: an earlier one may have left more
            status=status,
        )  # last, and in order: a status in the file means everything before it is there too
    logger.info("run %d %s in %.3f s", index, status, duration)
    logger.removeHandler(handler)
    logging.getLogger("py.warnings").removeHandler(handler)
    handler.close()
    return {"index": index, "status": status, "duration_s": duration}


class ResultChannel:
    """A worker's stand-in for the results file: each write and attribute update travels, in
    order, on the queue the worker reports on, and the parent (the file's single writer)
    applies it. Arrays are checked here, so a value the file cannot hold fails its run in the
    worker with a clear error."""

    def __init__(self, queue: Any, index: int) -> None:
        self._queue = queue
        self._index = index

    def write(self, key: str, array: Any) -> None:
        array = np.asarray(array)
        array_for_write(normalize_key(key), array)
        self._queue.put(("write", (self._index, key, array)))

    def set_attrs(self, key: str, **attributes: Any) -> None:
        self._queue.put(("attrs", (self._index, key, attributes)))

    @contextmanager
    def grouped(self) -> Iterator[None]:
        yield  # the parent groups what it receives


def worker_main(function: Callable[[Run], Any], directory: Path, tasks: Any, done: Any) -> None:
    """A pool process: take run orders until a stop order, report each run as it ends.

    An order stays taken (not released) until this worker has said which run it started, so
    a worker killed in between leaves the order to be delivered again, never lost.
    """
    done.put(("ready", os.getpid()))
    while True:
        view = tasks.get_view()
        order = view.value
        if order is None:
            view.release()
            return
        index, parameters = order
        done.put(("started", (os.getpid(), index)))
        view.release()
        outcome = execute(function, index, parameters, directory, ResultChannel(done, index))
        done.put(("ended", {**outcome, "pid": os.getpid()}))
