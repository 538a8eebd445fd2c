"""SharedMemoryArray against ataraxis-data-structures, measured in the same run.

python benchmarks/bench_shm.py [--repeats N]
"""

from __future__ import annotations

import argparse
import os
import sys

from _harness import (
    BENCHMARKS,
    LimitRow,
    Row,
    limit_table,
    median_runs,
    record,
    reference_python,
    table,
)

REFERENCE = "ataraxis-data-structures"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    arguments = parser.parse_args()
    load_before = os.getloadavg()[0]
    script = BENCHMARKS / "shm_workload.py"
    reference = reference_python("reference", [REFERENCE])
    ours = median_runs(sys.executable, script, ["ours"], arguments.repeats)
    theirs = median_runs(reference, script, ["reference"], arguments.repeats)
    write_limit, read_limit = ours["limit_write_ops"], ours["limit_read_ops"]
    limit_write = "`with mp.Lock(): a[i] = 7`"
    elements = [
        LimitRow("`sma[i] = 7`, a Python int into float64", "ops/s",
                 ours["element_int_write_ops"], write_limit, limit_write,
                 theirs["element_int_write_ops"], goal=0.8),
        LimitRow("`sma[i] = 1.5` into float64", "ops/s", ours["element_write_ops"],
                 write_limit, limit_write, theirs["element_write_ops"], goal=0.8),
        LimitRow("`sma[i] = np.float32(2.5)` into float64", "ops/s",
                 ours["element_float32_write_ops"], write_limit, limit_write,
                 theirs["element_float32_write_ops"], goal=0.8),
        LimitRow("`sma[i] = np.int64(3)` into float64", "ops/s",
                 ours["element_int64_write_ops"], write_limit, limit_write,
                 theirs["element_int64_write_ops"], goal=0.8),
        LimitRow("`sma[i] = True` into bool", "ops/s", ours["element_bool_write_ops"],
                 write_limit, limit_write, theirs["element_bool_write_ops"], goal=0.8),
        LimitRow("`sma[i]` read from float64", "ops/s", ours["element_read_ops"], read_limit,
                 "`with mp.Lock(): a[i]`", theirs["element_read_ops"], goal=0.8),
    ]  # fmt: skip
    rows = [
        Row("locked element read", ours["element_read_ops"], theirs["element_read_ops"],
            "ops/s", goal=2.0),
        Row("locked element write", ours["element_write_ops"], theirs["element_write_ops"],
            "ops/s", goal=2.0),
        Row("1 MiB slice write", ours["slice_write_gbps"], theirs["slice_write_gbps"],
            "GB/s", goal=0.8),
        Row("2-process atomic increments", ours["two_process_increments"],
            theirs["two_process_increments"], "ops/s", goal=2.0),
    ]  # fmt: skip
    handover = ours["handover_after_kill_s"] * 1000
    theirs_handover = theirs["handover_after_kill_s"]
    reference_handover = (
        "never (its waiter gave up after 2 s: deadlock)"
        if theirs_handover == float("inf")
        else f"{theirs_handover * 1000:.1f} ms"
    )
    body = (
        limit_table(elements, REFERENCE + " 4.0.0")
        + "\n\nElement operations: operations per CPU second of a loop of 50,000, median of 7 "
        "rounds in which every case (the limits included) takes its turn, in one process per "
        "run; the limit is a plain numpy array under a multiprocessing.Lock, measured in the "
        "same rounds. Each library's figure is the median over its runs.\n\n"
        + table(rows, REFERENCE + " 4.0.0")
        + f"\n\nLock handed to a blocked waiter after its holder was SIGKILLed: ours "
        f"{handover:.2f} ms (goal < 100 ms), reference {reference_handover}."
        + "\n\nThe same 2-process increment with the primitives alone, in our run: our lock's "
        f"compiled trylock/unlock around `values[0] += 1` {ours['raw_lock_increments']:,.0f} "
        "ops/s, multiprocessing.Lock around it "
        f"{ours['mp_lock_increments']:,.0f} ops/s; `with sma.array()` adds its Python "
        "`__enter__`/`__exit__` inside the critical section."
        + f"\n\nMedian of {arguments.repeats} runs each."
    )
    body += (
        f"\n\nLoad average (1 min) {load_before:.1f} before and {os.getloadavg()[0]:.1f} after "
        "the run (2 cores; other work shares the machine)."
    )
    print(body)
    record("SharedMemoryArray", body, "python benchmarks/bench_shm.py")


if __name__ == "__main__":
    main()
