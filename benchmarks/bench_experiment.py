"""Parameter exploration runs against pypet (its own virtual environment), in the same run.

python benchmarks/bench_experiment.py [--repeats N]
"""

from __future__ import annotations

import argparse
import subprocess
import sys

from _harness import BENCHMARKS, Row, median_runs, record, reference_python, table

# pypet 0.6 predates NumPy 2 and PyTables 3.10; these are the newest versions it runs with.
REFERENCE_PACKAGES = ["pypet", "numpy<2", "tables<3.10", "pandas<2.2"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    arguments = parser.parse_args()
    script = BENCHMARKS / "experiment_workload.py"
    reference = reference_python("pypet", REFERENCE_PACKAGES)
    runs = arguments.repeats
    ours = {n: median_runs(sys.executable, script, ["ours", str(n)], runs) for n in (1, 2)}
    theirs = {n: median_runs(reference, script, ["pypet", str(n)], runs) for n in (1, 2)}
    busy = {n: median_runs(sys.executable, script, ["ours", str(n), "compute"], runs)
            for n in (1, 2)}  # fmt: skip
    busy_theirs = {n: median_runs(reference, script, ["pypet", str(n), "compute"], runs)
                   for n in (1, 2)}  # fmt: skip
    resumed = {n: median_runs(sys.executable, script, ["ours", str(n), "resume"], 1)
               for n in (1, 2)}  # fmt: skip
    rows = [
        Row("1 process, 100 runs", ours[1]["seconds"], theirs[1]["seconds"], "s", goal=5.0,
            higher_is_better=False),
        Row("2 processes, 100 runs", ours[2]["seconds"], theirs[2]["seconds"], "s",
            higher_is_better=False),
        Row("1 process, 100 runs of 20 ms computation", busy[1]["seconds"],
            busy_theirs[1]["seconds"], "s", higher_is_better=False),
        Row("2 processes, 100 runs of 20 ms computation", busy[2]["seconds"],
            busy_theirs[2]["seconds"], "s", higher_is_better=False),
    ]  # fmt: skip
    faster = ours[2]["seconds"] < ours[1]["seconds"]
    busy_faster = busy[2]["seconds"] < busy[1]["seconds"]
    version = subprocess.run(
        [str(reference), "-c", "import pypet; print(pypet.__version__)"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    resume_lines = "; ".join(
        f"{n} process{'es' if n > 1 else ''}: killed after {resumed[n]['done_before_resume']:.0f} "
        f"runs, resumed in {resumed[n]['resume_s']:.2f} s with all 100 stored once"
        for n in (1, 2)
    )
    body = (
        table(rows, f"pypet {version}")
        + f"\n\nOurs with 2 processes against ours with 1: {ours[1]['seconds']:.2f} s -> "
        f"{ours[2]['seconds']:.2f} s (goal: 2 processes faster than 1: "
        f"{'met' if faster else 'MISSED'}). Theirs: {theirs[1]['seconds']:.2f} s -> "
        f"{theirs[2]['seconds']:.2f} s. With 20 ms of computation per run, ours "
        f"{busy[1]['seconds']:.2f} s -> {busy[2]['seconds']:.2f} s "
        f"({'faster' if busy_faster else 'not faster'} with 2), theirs "
        f"{busy_theirs[1]['seconds']:.2f} s -> {busy_theirs[2]['seconds']:.2f} s. Our workers "
        "are spawned: each is a fresh interpreter that imports numpy and h5py before its first "
        "run (0.3 to 0.5 s here, about as long as the whole one-process run of the main case), "
        "which its small runs never earn back on 2 cores."
        f"\n\nResume after SIGKILL of the whole experiment (ours; pypet cannot resume in its "
        f"queue mode): {resume_lines}."
        "\n\nA 10 x 10 grid (x, y in 0..9); each run stores one scalar (x * y) and one array of "
        "10,000 float64 values. Timed in a fresh process from building the experiment to the "
        "return of `run`, results on disk; both are read back and checked afterwards (not "
        "timed). Ours: `Experiment(...).run(function, processes=N)` (spawned workers, the "
        "calling process writes the file); theirs: `Environment(multiproc=N > 1, ncores=N, "
        "use_pool=True)` (forked workers, its default lock wrap mode), `f_add_result` per value."
        f"\n\nMedian of {runs} runs each (resume: one run per mode)."
    )
    print(body)
    record("Experiments", body, "python benchmarks/bench_experiment.py")


if __name__ == "__main__":
    main()
