"""compress_npy_logs and LogArchiveReader against ataraxis-data-structures' assemble_log_archives,
measured in the same run.

python benchmarks/bench_archive.py [--repeats N]

Small cases and reader figures are medians of N runs; the 1 GiB case runs once per side (a run
takes 5 to 30 s), the two 2 GiB memory checks once, ours only.
"""

from __future__ import annotations

import argparse
import sys

from _harness import BENCHMARKS, Row, median_runs, record, reference_python, table

REFERENCE = "ataraxis-data-structures"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    arguments = parser.parse_args()
    script = BENCHMARKS / "archive_workload.py"
    reference = reference_python("reference", [REFERENCE])
    repeats = arguments.repeats
    ours, theirs = {}, {}
    for case, runs in (("small", repeats), ("reader", repeats), ("large", 1)):
        ours[case] = median_runs(sys.executable, script, ["ours", case], runs)
        theirs[case] = median_runs(reference, script, ["reference", case], runs)
        print(case, ours[case], theirs[case], flush=True)
    memory = median_runs(sys.executable, script, ["ours", "memory"], 1)
    tiny = median_runs(sys.executable, script, ["ours", "memory_tiny"], 1)
    small, large, reader = ours["small"], ours["large"], ours["reader"]
    rows = [
        Row("10,000 x 64 B, uncompressed", small["store_s"], theirs["small"]["store_s"], "s",
            goal=20.0, higher_is_better=False),
        Row("10,000 x 64 B, ours deflated", small["deflate_s"], theirs["small"]["store_s"], "s",
            higher_is_better=False),
        Row("1 GiB of 1 MiB, uncompressed", large["store_s"], theirs["large"]["store_s"], "s",
            goal=3.0, higher_is_better=False),
        Row("1 GiB of 1 MiB, ours deflated", large["deflate_s"], theirs["large"]["store_s"], "s",
            higher_is_better=False),
        Row("iterate messages", reader["store_iterate_per_s"],
            theirs["reader"]["store_iterate_per_s"], "messages/s"),
        Row("random access", reader["store_random_us"], theirs["reader"]["store_random_us"],
            "us", higher_is_better=False),
    ]  # fmt: skip
    iterate_goal = "met" if reader["store_iterate_per_s"] >= 1e6 else "MISSED"
    access_goal = "met" if reader["store_random_us"] < 20 else "MISSED"
    body = table(rows, REFERENCE + " 4.0.0")
    body += (
        f"\n\nAbsolute goals: iteration >= 1,000,000 messages/s ({iterate_goal}); random access "
        f"< 20 us ({access_goal}). Deflated archive (payload decompressed once on first access): "
        f"{reader['deflate_iterate_per_s']:,.0f} messages/s streamed, "
        f"{reader['deflate_random_us']:.2f} us per random access.\n\n"
        f"Peak resident memory of the compressing process (fresh interpreter, numpy included): "
        f"{large['store_peak_mb']:.0f} MB uncompressed and {large['deflate_peak_mb']:.0f} MB "
        f"deflated for 1 GiB; for 2 GiB, {memory['store_peak_mb']:.0f} MB with 1 MiB entries "
        f"({memory['store_s']:.1f} s) and {tiny['store_peak_mb']:.0f} MB with 24 million 64 B "
        f"entries ({tiny['store_s']:.1f} s). Archive sizes for 1 GiB: "
        f"{large['store_archive_mb']:,.0f} MB stored, {large['deflate_archive_mb']:,.0f} MB "
        f"deflated (reference {theirs['large']['store_archive_mb']:,.0f} MB).\n\n"
        "Inputs: ours are the logger's batch files (1,000 entries per file for the small case, "
        "16 MiB files for 1 GiB), the reference's its one .npy file per entry; payload bytes "
        "uniform in 0-15. Reference run with its defaults (max_workers None, memory_mapping "
        "True) and remove_sources=False, verify_integrity=False; ours with compress=False "
        "('uncompressed') or True ('deflated'), remove_sources=False. Our times include the "
        "fsync of each archive and the read-back check; the reference does neither. Reader "
        f"figures: ours on a 1,000,000 x 64 B archive, iterating every (timestamp, payload) and "
        f"{100_000:,} random reader[i]; the reference's archive of 10,000 x 64 B read the way "
        "its users do (np.load, then archive[key] per entry, timestamp decoded from the "
        f"entry), 2,000 random keys. Small cases and reader: median of {repeats} runs; "
        "1 GiB: one run per side."
    )
    print(body)
    record("Log archives", body, "python benchmarks/bench_archive.py")


if __name__ == "__main__":
    main()
