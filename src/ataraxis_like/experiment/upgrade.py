"""Converting a results file of layout 1 to layout 2, so that the experiment can go on.

The runs, their results, recorders and sessions are written into a new file by the same writer
``run`` uses; the old file is kept beside it as ``results.layout1.h5``. The exploration and
defaults stay as they were, so resuming with the same ``Experiment`` runs only what is pending.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..hdf5 import Hdf5Sink, open_sink, recover
from ..hdf5._rwlock import remove_lock_files
from ..recorder import Recorder
from . import provenance
from ._layout import EXPLORATION, LAYOUT_VERSION
from ._layout1 import Layout1Reader
from ._run import Outcome, capture_recorder
from ._session_log import SessionLog
from ._writer import ResultsWriter
from .errors import ExperimentError
from .runner import RESULTS_FILE

OLD_FILE = "results.layout1.h5"


def upgrade(directory: Path | str) -> Path:
    """Rewrite ``directory``'s layout 1 results file in layout 2; return the old file's path.

    The conversion is stored as a session of its own (its provenance says so), which keeps
    the attempts it writes apart from those of later sessions.

    Refuses a directory whose file is already layout 2 (nothing to do) or holds no file.
    """
    directory = Path(directory)
    path, old, new = directory / RESULTS_FILE, directory / OLD_FILE, directory / "results.new.h5"
    if not path.exists():
        raise ExperimentError(f"{directory} holds no {RESULTS_FILE}", path=str(directory))
    recover(path)
    with open_sink(path) as reader:
        runs = reader.file.get("runs")
        if runs is None or hasattr(runs, "dtype"):
            raise ExperimentError(f"{path} is not layout 1: nothing to upgrade", path=str(path))
        source = Layout1Reader(path, reader)
        results = {name: dict(zip(*source.result(reader, name), strict=True))
                   for name in source.result_names}  # fmt: skip
    root = {key: value for key, value in source.attributes.items() if key != "exploration"}
    sessions = sum(1 for key in root if key.endswith("_provenance"))
    new.unlink(missing_ok=True)
    with Hdf5Sink(new, "w") as sink:
        with sink.grouped():
            sink.write(EXPLORATION, json.dumps(source.points))
            facts = {**provenance.collect(None), "upgraded_from_layout": 1}
            sink.set_attrs("/", **root, layout=LAYOUT_VERSION,
                           **{f"session_{sessions}_provenance": json.dumps(facts),
                              f"session_{sessions}_end": provenance.utc_now()})  # fmt: skip
        log = SessionLog(directory, str(root.get("experiment", "")), 0)
        try:
            writer = ResultsWriter(sink, directory, sessions, log)
            for row in source.runs():
                index = row["index"]
                outcome = Outcome(index, row["status"], row["started"], row["duration_s"],
                                  row["error"])  # fmt: skip
                if row["status"] == "completed":
                    outcome.results = {name: values[index] for name, values in results.items()
                                       if index in values}  # fmt: skip
                    key = source.recorder_key(index)
                    if key is not None:
                        with open_sink(path) as reader:
                            present = reader.file.get(f"{key}/_meta") is not None
                        if present:
                            outcome.recorder = capture_recorder(Recorder.load(path, key=key))
                writer.add(outcome)
            writer.commit()
        finally:
            log.close()
    os.replace(path, old)
    os.replace(new, path)
    remove_lock_files(new)
    return old
