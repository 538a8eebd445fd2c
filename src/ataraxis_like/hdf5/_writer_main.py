"""Entry point of the writer process: ``python -m ataraxis_like.hdf5._writer_main SETTINGS``."""

import sys

from ._writer import WriterSettings, run_writer

run_writer(WriterSettings.from_json(sys.argv[1]))
