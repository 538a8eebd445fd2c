"""Recorder workload, run under our interpreter and under the record keeper's own environment.

Usage: python recorder_workload.py ours|compat|reference main|collection [records]

- ours: our native API (Recorder.child, push, where, save/load).
- compat: the record keeper's API through ataraxis_like.compat.record_keeper (same code as
  reference).
- reference: pip ``rigorous-recorder`` (RecordKeeper, all_records, save_to/load_from).

"main" pushes ``records`` (default 1,000,000) records of two numbers into 20 leaves of a
3-level hierarchy (experiment -> 10 models -> training True/False), then measures memory held,
the mean loss of one model's records (a filter by a parent field), and save + load. "collection"
pushes the same records standalone and inside an experiment collection, alternating three times
and keeping the best of each against machine noise (the reference once, for at most 20 s, as it
slows down there). Prints one JSON object.
"""

from __future__ import annotations

import gc
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

LIBRARY, PART = sys.argv[1], sys.argv[2]
RECORDS = int(sys.argv[3]) if len(sys.argv) > 3 else 1_000_000
MODELS = 10
REFERENCE_BUDGET_S = 20.0

if LIBRARY == "ours":
    from ataraxis_like.recorder import ExperimentCollection, Recorder
elif LIBRARY == "compat":
    from ataraxis_like.compat.record_keeper import ExperimentCollection, RecordKeeper
else:
    from rigorous_recorder import ExperimentCollection, RecordKeeper  # type: ignore[no-redef]


def rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3


def build(experiment: Any) -> list[Any]:
    """10 models x (training, testing) leaves under ``experiment``."""
    leaves = []
    for model in range(MODELS):
        if LIBRARY == "ours":
            node = experiment.child(model=f"m{model}")
            leaves.extend(node.child(training=flag) for flag in (True, False))
        else:
            node = RecordKeeper(model=f"m{model}").set_parent(experiment)
            leaves.extend(RecordKeeper(training=flag).set_parent(node) for flag in (True, False))
    return leaves


def push_all(leaves: list[Any], budget: float | None = None) -> tuple[int, float]:
    """Push RECORDS records (index, loss) leaf after leaf; (records pushed, seconds)."""
    per_leaf = RECORDS // len(leaves)
    pushed = 0
    start = time.perf_counter()
    for leaf in leaves:
        push = leaf.push
        for index in range(per_leaf):
            push(index=index, loss=index * 0.001)
        pushed += per_leaf
        if budget is not None and time.perf_counter() - start > budget:
            break
    for leaf in leaves:
        if hasattr(leaf, "flush"):
            leaf.flush()
    return pushed, time.perf_counter() - start


def mean_loss_of_model(root: Any, model: str) -> tuple[float, int]:
    if LIBRARY == "ours":
        chosen = root.where(model=model)
        return float(chosen.column("loss").mean()), len(chosen)
    records = root.all_records
    chosen = [record for record in records if record["model"] == model]
    return sum(record["loss"] for record in chosen) / len(chosen), len(chosen)


def main_part(directory: Path) -> dict[str, float]:
    root = Recorder(experiment=1) if LIBRARY == "ours" else RecordKeeper(experiment=1)
    leaves = build(root)
    gc.collect()
    rss_before, peak_before = rss_mb(), peak_mb()
    pushed, seconds = push_all(leaves)
    gc.collect()
    figures = {
        "push_rate": pushed / seconds,
        "held_mb": rss_mb() - rss_before,
        "peak_growth_mb": peak_mb() - peak_before,
    }
    start = time.perf_counter()
    mean, count = mean_loss_of_model(root, "m3")
    figures["filter_s"] = time.perf_counter() - start
    assert count == RECORDS // MODELS, count
    assert abs(mean - (RECORDS // 20 - 1) * 0.001 / 2) < 1e-6, mean
    path = directory / "records.h5"
    start = time.perf_counter()
    if LIBRARY == "ours":
        root.save(path, overwrite=True)
    else:
        root.save_to(str(path))
    figures["save_s"] = time.perf_counter() - start
    figures["file_mb"] = path.stat().st_size / 1e6
    start = time.perf_counter()
    loaded = Recorder.load(path) if LIBRARY == "ours" else RecordKeeper.load_from(str(path))
    figures["load_s"] = time.perf_counter() - start
    figures["save_load_s"] = figures["save_s"] + figures["load_s"]
    total = len(loaded.records) if LIBRARY == "ours" else sum(1 for _ in loaded.all_records)
    assert total == RECORDS, total
    return figures


def collection_part(directory: Path) -> dict[str, float]:
    """Standalone and in-collection pushes, alternated; the best of each (machine noise)."""
    if LIBRARY == "ours":
        collection = ExperimentCollection(directory / "study.h5")
    else:
        collection = ExperimentCollection(str(directory / "study"), quiet=True)
    budget = REFERENCE_BUDGET_S if LIBRARY == "reference" else None
    rounds = 1 if LIBRARY == "reference" else 3
    standalone = inside = 0.0
    pushed = 0
    for _ in range(rounds):
        root = Recorder(experiment=1) if LIBRARY == "ours" else RecordKeeper(experiment=1)
        count, seconds = push_all(build(root), budget)
        standalone = max(standalone, count / seconds)
        del root
        gc.collect()
        with collection.new_experiment() as experiment:
            pushed, seconds = push_all(build(experiment), budget)
        inside = max(inside, pushed / seconds)
        gc.collect()
    return {
        "standalone_rate": standalone,
        "collection_rate": inside,
        "collection_pushed": float(pushed),
    }


def main() -> None:
    directory = Path(tempfile.mkdtemp(prefix="recorder_bench_"))
    try:
        figures = main_part(directory) if PART == "main" else collection_part(directory)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
