"""``ataraxis-like demo``: the whole pipeline doing real work, proving that nothing was lost.

Producer processes put LogPackages at a target rate through a DataLogger while publishing their
live state in a SharedMemoryArray; the run's settings are a YamlConfig saved beside the data.
At the end the logs are compressed into per-source archives, read back and checked entry by
entry, and a summary says where every output is.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ._demo_producer import STATE_COLUMNS, payload_for, produce
from ._exit_codes import progress_stream
from .config import YamlConfig
from .hdf5 import Hdf5Sink
from .logs import DataLogger
from .recorder import Recorder
from .shm import SharedMemoryArray


@dataclass
class DemoSettings(YamlConfig):
    """What the demo run did; saved as demo_settings.yaml beside the data."""

    seconds: float = field(default=5.0, metadata={"doc": "How long producers send entries."})
    producers: int = field(default=2, metadata={"doc": "Producer processes."})
    rate: float = field(default=1000.0, metadata={"doc": "Entries per second per producer."})
    payload: int = field(default=256, metadata={"doc": "Bytes per entry."})


def _check_archives(
    directory: Path, settings: DemoSettings, sent: dict[int, int]
) -> dict[str, Any]:
    """Read every archive back and compare each entry with what its producer sent."""
    from .logs import LogArchiveReader, compress_npy_logs

    archives = compress_npy_logs(directory, remove_sources=True)
    checked = mismatched = 0
    for producer in sent:
        path = archives.get(producer)
        if path is None:
            continue
        reader = LogArchiveReader(path)
        try:
            for index, (_timestamp, payload) in enumerate(reader.iter_messages()):
                expected = payload_for(producer, index, settings.payload)
                mismatched += bytes(payload) != expected
                checked += 1
        finally:
            reader.close()
    expected_total = sum(sent.values())
    return {
        "archives": {str(source): str(path) for source, path in sorted(archives.items())},
        "entries_checked": checked,
        "entries_mismatched": mismatched,
        "entries_lost": expected_total - checked,
    }


def _check_statistics(path: Path, sent: dict[int, int]) -> dict[str, Any]:
    """Load each producer's streamed statistics back: their entries must add up to what it sent."""
    counted, records = {}, 0
    for producer in sent:
        stats = Recorder.load(path, key=f"producers/p{producer}")
        counted[producer] = int(sum(record["entries"] for record in stats.records))
        records += len(stats)
    return {"statistics_records": records, "statistics_consistent": counted == sent}


def _progress(state: SharedMemoryArray, settings: DemoSettings, began: float) -> str:
    values = state.read_data((0,))
    entries = int(values[:, 0].sum())
    elapsed = max(time.monotonic() - began, 1e-9)
    target = settings.producers * settings.rate * min(elapsed, settings.seconds)
    share = entries / max(target, 1)
    return f"  {elapsed:5.1f} s  {entries:>9,d} entries sent ({share:.0%} of target)"


def run_demo(arguments: argparse.Namespace) -> int:
    settings = DemoSettings(
        seconds=arguments.seconds, producers=arguments.producers, rate=arguments.rate,
        payload=arguments.payload,
    )  # fmt: skip
    if settings.producers < 1 or settings.rate <= 0 or settings.seconds <= 0:
        print("ataraxis-like: error: --producers, --rate and --seconds must be positive",
              file=sys.stderr)  # fmt: skip
        return 2
    output = Path(arguments.output or f"ataraxis_demo_{time.strftime('%Y%m%d_%H%M%S')}")
    output = output.resolve()
    output.mkdir(parents=True, exist_ok=True)
    settings.to_yaml(output / "demo_settings.yaml")
    quiet = arguments.json
    if not quiet:
        print(f"demo: {settings.producers} producers x {settings.rate:g} entries/s x "
              f"{settings.payload} B for {settings.seconds:g} s -> {output}")  # fmt: skip
    count = max(1, int(settings.rate * settings.seconds))
    context = mp.get_context("spawn")
    logger = DataLogger(output, "demo")
    state = SharedMemoryArray.create_array(
        f"demo_state_{os.getpid()}", np.zeros((settings.producers, len(STATE_COLUMNS)), np.int64)
    )
    start, results = context.Barrier(settings.producers + 1), context.Queue()
    stats_path = output / "demo_stats.h5"
    sink = Hdf5Sink(stats_path, "w", sharing="queue")
    processes = [
        context.Process(
            target=produce,
            args=(
                logger,
                state,
                producer,
                count,
                settings.rate,
                settings.payload,
                start,
                results,
                sink.client(),
            ),
        )
        for producer in range(settings.producers)
    ]
    logger.start()
    for process in processes:
        process.start()
    start.wait()  # every producer has started and imported: the clock starts for all at once
    began = time.monotonic()
    progress = progress_stream(machine_output=quiet)
    while not all(state.read_data((0,))[:, 3]) and any(p.is_alive() for p in processes):
        if progress is not None:
            print("\r" + _progress(state, settings, began), end="", file=progress, flush=True)
        time.sleep(0.25)
    reports = [results.get(timeout=60) for _ in processes]
    for process in processes:
        process.join()
    logger.stop()
    logger.close()
    sink.close()
    if not quiet:
        if progress is not None:
            print("\r\x1b[K", end="", file=progress, flush=True)  # the progress line goes
        print(_progress(state, settings, began))
    state.destroy()
    sent = {producer: count for producer, _elapsed, _latencies in reports}
    latencies = np.concatenate([latency for _p, _e, latency in reports]) * 1e6
    elapsed = max(elapsed for _p, elapsed, _l in reports)
    check = _check_archives(logger.output_directory, settings, sent)
    check.update(_check_statistics(stats_path, sent))
    summary = {
        "settings": asdict(settings),
        "entries": sum(sent.values()),
        "bytes": sum(sent.values()) * settings.payload,
        "target_rate": settings.rate * settings.producers,
        "achieved_rate": round(sum(sent.values()) / elapsed, 1),
        "put_median_us": round(float(np.median(latencies)), 2),
        "put_p99_us": round(float(np.percentile(latencies, 99)), 2),
        **check,
        "failed_producers": sum(1 for process in processes if process.exitcode != 0),
        "outputs": {
            "directory": str(output),
            "settings": str(output / "demo_settings.yaml"),
            "logs": str(logger.output_directory),
            "statistics": str(stats_path),
        },
    }
    if quiet:
        print(json.dumps(summary))
    else:
        _print_summary(summary)
    ok = (
        summary["statistics_consistent"]
        and summary["entries_lost"] == 0
        and summary["entries_mismatched"] == 0
        and summary["failed_producers"] == 0
    )
    return 0 if ok else 1


def _print_summary(summary: dict[str, Any]) -> None:
    rows = [
        ("entries", f"{summary['entries']:,d}"),
        ("bytes", f"{summary['bytes']:,d}"),
        (
            "rate",
            f"{summary['achieved_rate']:,.0f} entries/s (target {summary['target_rate']:,.0f})",
        ),
        ("put latency", f"median {summary['put_median_us']} us, p99 {summary['put_p99_us']} us"),
        ("checked", f"{summary['entries_checked']:,d} entries read back byte for byte"),
        ("entries lost", str(summary["entries_lost"])),
        ("mismatched", str(summary["entries_mismatched"])),
        (
            "statistics",
            f"{summary['statistics_records']} per-second records from the producers, "
            f"consistent: {summary['statistics_consistent']}",
        ),
        ("settings", summary["outputs"]["settings"]),
        ("statistics file", summary["outputs"]["statistics"]),
        ("logs", summary["outputs"]["logs"]),
    ]
    rows += [(f"archive {source}", path) for source, path in summary["archives"].items()]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")
