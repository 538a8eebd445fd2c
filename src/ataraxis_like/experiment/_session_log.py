"""The experiment's own logs beside the per-run logs: ``logs/main.log`` (sessions, progress,
every failure and warning of the runs) and ``logs/warnings_and_errors.log`` (warnings and errors
only). Written by the calling process, the single writer, from the outcomes it stores."""

from __future__ import annotations

import logging
from pathlib import Path

from ._run import FAILED, Outcome

MAIN_LOG = "main.log"
WARNINGS_LOG = "warnings_and_errors.log"


def _last_line(error: str) -> str:
    lines = error.strip().splitlines()
    return lines[-1] if lines else ""


class SessionLog:
    """A logger for one ``run`` call, writing the two files (opened for appending)."""

    def __init__(self, directory: Path, name: str, total: int) -> None:
        folder = directory / "logs"
        folder.mkdir(parents=True, exist_ok=True)
        self.logger = logging.Logger(f"ataraxis_like.experiment.{name}", logging.INFO)
        form = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
        for file_name, level in ((MAIN_LOG, logging.INFO), (WARNINGS_LOG, logging.WARNING)):
            handler = logging.FileHandler(folder / file_name, encoding="utf-8")
            handler.setLevel(level)
            handler.setFormatter(form)
            self.logger.addHandler(handler)
        self._total, self._done, self._next_report = total, 0, 0.1

    def run_ended(self, outcome: Outcome) -> None:
        for line in outcome.alerts:
            self.logger.warning("run %d: %s", outcome.index, line)
        if outcome.status == FAILED:
            self.logger.error("run %d failed: %s", outcome.index, _last_line(outcome.error))
        self._done += 1
        if self._total and self._done / self._total >= self._next_report:
            self.logger.info("%d of %d runs stored (%.0f%%)", self._done, self._total,
                             100 * self._done / self._total)  # fmt: skip
            while self._next_report <= self._done / self._total:
                self._next_report += 0.1

    def close(self) -> None:
        for handler in list(self.logger.handlers):
            self.logger.removeHandler(handler)
            handler.close()
