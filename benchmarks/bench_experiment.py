"""Parameter exploration runs against pypet (its own virtual environment), in the same run.

python benchmarks/bench_experiment.py [--repeats N]

Trivial runs at 100, 10,000 and 100,000 (one process; 100,000 measured once), the same sweep
on a Dask LocalCluster of 2 workers, and a 10 x 10 grid with an array per run in each mode.
"""

from __future__ import annotations

import argparse
import subprocess
import sys

from _harness import BENCHMARKS, Row, median_runs, record, reference_python, table

# pypet 0.6 predates NumPy 2 and PyTables 3.10; these are the newest versions it runs with.
REFERENCE_PACKAGES = ["pypet", "numpy<2", "tables<3.10", "pandas<2.2"]
TRIVIAL_RUNS = (100, 10_000, 100_000)
NOTE = " (pypet: its 10,000 figure)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    arguments = parser.parse_args()
    script = BENCHMARKS / "experiment_workload.py"
    reference = reference_python("pypet", REFERENCE_PACKAGES)
    runs = arguments.repeats
    trivial = {n: median_runs(sys.executable, script, ["ours", str(n), "trivial"],
                              runs if n <= 10_000 else 1) for n in TRIVIAL_RUNS}  # fmt: skip
    trivial_theirs = {
        n: median_runs(reference, script, ["pypet", str(n), "trivial"], runs if n < 10_000 else 1)
        for n in TRIVIAL_RUNS[:2]
    }
    # pypet's time per run grows with the number of runs (10,000 take it tens of minutes on
    # the development machine): its 100,000-run row repeats its 10,000-run figures, which
    # flatters it.
    trivial_theirs[TRIVIAL_RUNS[2]] = trivial_theirs[TRIVIAL_RUNS[1]]
    dask = median_runs(sys.executable, script, ["ours", "10000", "dask"], 1)
    dask_resumed = median_runs(sys.executable, script, ["ours", "10000", "dask-resume"], 1)
    modes = {"1": ["1"], "2 fork": ["2", "plain", "fork"], "2 spawn": ["2", "plain", "spawn"]}
    ours = {m: median_runs(sys.executable, script, ["ours", *a], runs) for m, a in modes.items()}
    theirs = {n: median_runs(reference, script, ["pypet", str(n)], runs) for n in (1, 2)}
    busy = {m: median_runs(sys.executable, script, ["ours", a[0], "compute", *a[2:]], runs)
            for m, a in modes.items()}  # fmt: skip
    busy_theirs = {n: median_runs(reference, script, ["pypet", str(n), "compute"], runs)
                   for n in (1, 2)}  # fmt: skip
    resumed = {m: median_runs(sys.executable, script, ["ours", a[0], "resume", *a[2:]], 1)
               for m, a in modes.items()}  # fmt: skip
    rows = [
        *(Row(f"1 process, {n:,} trivial runs, time per run{NOTE if n > 10_000 else ''}",
              trivial[n]["ms_per_run"], trivial_theirs[n]["ms_per_run"], "ms",
              goal=20.0 if n == 10_000 else None, higher_is_better=False)
          for n in TRIVIAL_RUNS),
        *(Row(f"1 process, {n:,} trivial runs, file per run", trivial[n]["bytes_per_run"],
              trivial_theirs[n]["bytes_per_run"], "bytes", higher_is_better=False)
          for n in TRIVIAL_RUNS),
        Row("1 process, 100 runs", ours["1"]["seconds"], theirs[1]["seconds"], "s", goal=5.0,
            higher_is_better=False),
        Row("2 processes (fork), 100 runs", ours["2 fork"]["seconds"], theirs[2]["seconds"], "s",
            higher_is_better=False),
        Row("2 processes (spawn), 100 runs", ours["2 spawn"]["seconds"], theirs[2]["seconds"],
            "s", higher_is_better=False),
        Row("1 process, 100 runs of 20 ms computation", busy["1"]["seconds"],
            busy_theirs[1]["seconds"], "s", higher_is_better=False),
        Row("2 processes (fork), 100 runs of 20 ms computation", busy["2 fork"]["seconds"],
            busy_theirs[2]["seconds"], "s", higher_is_better=False),
        Row("2 processes (spawn), 100 runs of 20 ms computation", busy["2 spawn"]["seconds"],
            busy_theirs[2]["seconds"], "s", higher_is_better=False),
    ]  # fmt: skip
    faster = ours["2 fork"]["seconds"] < ours["1"]["seconds"]
    version = subprocess.run(
        [str(reference), "-c", "import pypet; print(pypet.__version__)"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    resume_lines = "; ".join(
        f"{mode.replace('2', '2 processes,').replace('1', '1 process')}: killed after "
        f"{resumed[mode]['done_before_resume']:.0f} runs, resumed in "
        f"{resumed[mode]['resume_s']:.2f} s with all 100 stored once"
        for mode in modes
    )
    seconds = {mode: f"{ours[mode]['seconds']:.2f} s" for mode in modes}
    busy_seconds = {mode: f"{busy[mode]['seconds']:.2f} s" for mode in modes}
    largest = trivial[TRIVIAL_RUNS[2]]
    targets = (largest["ms_per_run"] <= 0.1, largest["bytes_per_run"] <= 1024)
    body = (
        table(rows, f"pypet {version}")
        + f"\n\nTrivial runs (each stores one scalar; the bookkeeping alone): at 100,000 runs ours "
        f"costs {largest['ms_per_run']:.4f} ms and {largest['bytes_per_run']:.0f} bytes of "
        f"file per run (targets <= 0.1 ms: {'met' if targets[0] else 'MISSED'}; <= 1 KB: "
        f"{'met' if targets[1] else 'MISSED'}). pypet was run at 100 and 10,000 runs (the "
        f"10,000 once): its time per run grows with the number of runs "
        f"({trivial_theirs[100]['ms_per_run']:.1f} ms at 100, "
        f"{trivial_theirs[10_000]['ms_per_run']:.1f} ms at 10,000), so its 100,000-run row, "
        "which repeats its 10,000-run figures instead of running for hours, flatters it."
        f"\n\nThe same 10,000 trivial runs on a Dask LocalCluster of 2 worker processes "
        f"(`run(f, executor=client, runs_per_task=100)`): {dask['ms_per_run']:.3f} ms per run "
        f"wall, {dask['caller_cpu_ms_per_run']:.3f} ms of the calling process's CPU per run "
        "(storing included, and the LocalCluster's scheduler, which runs in that process); "
        "killed (caller, scheduler and workers) after "
        f"{dask_resumed['done_before_resume']:.0f} runs were stored, resumed on a new cluster "
        f"in {dask_resumed['resume_s']:.2f} s with every run stored once."
        + f"\n\nOurs, 1 process -> 2 processes: {seconds['1']} -> {seconds['2 fork']} with forked "
        f"workers (goal: 2 processes faster than 1: {'met' if faster else 'MISSED'}), "
        f"{seconds['2 spawn']} with spawned ones (the default). Theirs (forked workers): "
        f"{theirs[1]['seconds']:.2f} s -> {theirs[2]['seconds']:.2f} s. With 20 ms of "
        f"computation per run, ours {busy_seconds['1']} -> {busy_seconds['2 fork']} (fork), "
        f"{busy_seconds['2 spawn']} (spawn); theirs {busy_theirs[1]['seconds']:.2f} s -> "
        f"{busy_theirs[2]['seconds']:.2f} s. A spawned worker is a fresh interpreter that "
        "imports numpy before its first run (about 0.25 s of CPU here): two of them cost more "
        "CPU than the whole one-process run of the main case on 2 cores, so only forked workers "
        "(`run(..., start_method='fork')`) can make 2 processes pay for runs this short. With "
        "fork the calling process, the file's single writer, is the limit: it stores what the "
        "workers compute."
        f"\n\nResume after SIGKILL of the whole experiment (ours; pypet cannot resume in its "
        f"queue mode): {resume_lines}."
        "\n\nA 10 x 10 grid (x, y in 0..9); each run stores one scalar (x * y) and one array of "
        "10,000 float64 values. Timed in a fresh process from building the experiment to the "
        "return of `run`, results on disk; both are read back and checked afterwards (not "
        "timed). Ours: `Experiment(...).run(function, processes=N, start_method=M)` (the "
        "calling process writes the file); theirs: `Environment(multiproc=N > 1, ncores=N, "
        "use_pool=True)` (forked workers, its default lock wrap mode), `f_add_result` per value."
        f"\n\nMedian of {runs} runs each (resume: one run per mode)."
    )
    print(body)
    record("Experiments", body, "python benchmarks/bench_experiment.py")


if __name__ == "__main__":
    main()
