"""Entry point of the logger process: ``python -m ataraxis_like.logs._logger_main SETTINGS``."""

import sys

from ._process import LoggerSettings, run_logger

run_logger(LoggerSettings.from_json(sys.argv[1]))
