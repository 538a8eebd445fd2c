"""Recorder example: records that inherit fields, queries, a file, experiments, keyed series.

Run: python examples/recorder_example.py
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from ataraxis_like.recorder import (
    ExperimentCollection,
    Hdf5Store,
    MemoryStore,
    Recorder,
    SeriesRecorder,
)


def hierarchy(folder: Path) -> None:
    experiment = Recorder(experiment=1)
    for model, scale in (("small", 1.0), ("large", 0.5)):
        node = experiment.child(model=model)
        train = node.child(training=True)
        for step in range(1000):
            train.push(step=step, loss=scale / (step + 1))
        node.child(training=False).push(accuracy=0.8 if model == "small" else 0.9)
    experiment.set(seed=42)

    records = experiment.records
    print(f"{len(records)} records; the first: {dict(records[0])}")
    large = experiment.where(model="large", training=True)
    print(f"large model: {len(large)} training records, first loss {large[0]['loss']}")
    columns = experiment.to_columns()
    accuracy = columns["accuracy"]
    print(f"accuracy column: {accuracy.count()} values, {int(accuracy.mask.sum())} missing")
    print(f"seed broadcast to every record: {bool((columns['seed'] == 42).all())}")

    path = folder / "run.h5"
    experiment.save(path)
    again = Recorder.load(path)
    same = [dict(r) for r in again.records] == [dict(r) for r in records]
    print(f"saved to HDF5 and loaded back: {len(again.records)} records, identical: {same}")


def collection(folder: Path) -> None:
    study = ExperimentCollection(folder / "study.h5")
    for learning_rate in (0.1, 0.01):
        with study.new_experiment(learning_rate=learning_rate) as recorder:
            recorder.push(final_loss=learning_rate * 2)
    try:
        with study.new_experiment(learning_rate=1.0) as recorder:
            recorder.push(final_loss=float("inf"))
            raise FloatingPointError("diverged")
    except FloatingPointError:
        pass
    with study.new_experiment(learning_rate=0.5) as recorder:
        recorder.push(final_loss=0.7)
    runs = [
        (r["learning_rate"], r["experiment_number"], r["had_error"])
        for r in ExperimentCollection(folder / "study.h5").records
    ]
    print(f"experiments (learning rate, number, had error): {runs}")


def series(folder: Path) -> None:
    frames = np.arange(5 * 4 * 4, dtype=np.uint8).reshape(5, 4, 4)
    with SeriesRecorder(MemoryStore(), Hdf5Store(folder / "series.h5", "w")) as recorder:
        for index, frame in enumerate(frames):
            recorder.record("camera/frames", frame)
            recorder.record("camera/exposure_ms", 10.0 + index)
        print(f"series under 'camera': {sorted(recorder.get_all('camera'))}")
    with Hdf5Store(folder / "series.h5", "r") as store:
        view = store.get("camera/frames")
        print(f"from the file: {view.shape} {view.dtype}, frame 3 sums to {int(view[3].sum())}")


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        hierarchy(Path(folder))
        collection(Path(folder))
        series(Path(folder))


if __name__ == "__main__":
    main()
