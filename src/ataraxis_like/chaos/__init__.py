"""``ataraxis-like chaos``: the pipeline under load while random processes are SIGKILLed.

Log producers and HDF5 sink clients count, in shared arrays, every put or append that returned;
a logger process and a sink writer process write what they accepted. A kill loop SIGKILLs
producers, clients, the logger and the writer at random; the owners' watchdogs restart the
logger and the writer, the loop restarts producers and clients in a new *epoch* (so work whose
acknowledgement died with its process is recognisable). At the end every acknowledged entry and
row must be on disk exactly once; loss, duplicates, a stall or a deadlock fail the run.
"""

from ._report import ChaosReport, report_json, report_lines
from ._run import run_chaos
from ._verify import verify_logs, verify_rows

__all__ = ["ChaosReport", "report_json", "report_lines", "run_chaos", "verify_logs", "verify_rows"]
