"""The ``ataraxis-like`` command line.

Exit codes scripts can rely on (``EXIT_CODES``, shown by ``--help``): 0 success, 1 the job ran
but found a problem (lost data, a failed check), 2 bad usage, 3 an error stopped the job (printed
as one line on stderr). Subcommands live beside their packages (logs/cli.py, hdf5/cli.py); this
module parses and dispatches; ``inspect`` runs _inspect_command.py, which picks the inspector.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ._exit_codes import EXIT_CODES, EXIT_ERROR, EXIT_OK, EXIT_PROBLEM, progress_stream
from .errors import AtaraxisError

Command = Callable[[argparse.Namespace], int]


class _CommandParser(argparse.ArgumentParser):
    """A subcommand's parser whose options are added only when that subcommand is used.

    ``configure`` imports the package that owns the subcommand and adds its options and handler;
    it runs the first time this parser parses or prints its help, so ``ataraxis-like --help`` and
    the other subcommands import none of the packages they do not use (numpy, h5py).
    """

    def __init__(
        self,
        *args: Any,
        configure: Callable[[argparse.ArgumentParser], None] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self._configure = configure

    def _configured(self) -> None:
        configure, self._configure = self._configure, None
        if configure is not None:
            configure(self)

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:
        self._configured()
        return super().parse_known_args(args, namespace)

    def format_help(self) -> str:
        self._configured()
        return super().format_help()


class _PrintVersion(argparse.Action):
    """``--version``: the installed version is looked up only when asked for (``__version__``
    imports importlib.metadata, which costs more than the rest of ``--help``)."""

    def __call__(self, parser: argparse.ArgumentParser, *_: Any) -> None:
        from . import __version__

        print(f"{parser.prog} {__version__}")
        parser.exit()


def _configure_compress(parser: argparse.ArgumentParser) -> None:
    from .logs.cli import configure

    configure(parser)


def _configure_recover(parser: argparse.ArgumentParser) -> None:
    from .hdf5.cli import configure

    configure(parser)


def _shm_ls(arguments: argparse.Namespace) -> int:
    from .shm import list_segments

    segments = list_segments(label=arguments.label)
    if arguments.json:
        print(json.dumps([_segment_row(info) for info in segments], indent=2))
        return EXIT_OK
    if not segments:
        print("no ataraxis-like shared memory segments")
        return EXIT_OK
    print(f"{'name':<32} {'kind':<6} {'state':<10} {'creator':>8} {'uid':>6} {'bytes':>12}  "
          "label  layout")  # fmt: skip
    for info in segments:
        row = _segment_row(info)
        print(
            f"{row['name']:<32} {row['kind'] or '?':<6} {row['state']:<10} "
            f"{row['creator_pid'] or '?':>8} {_or_unknown(row['owner_uid']):>6} "
            f"{row['size_bytes']:>12}  "
            f"{row['label'] or '-'}  {row['layout'] or row['reason']}"
        )
    return EXIT_OK


def _or_unknown(value: object) -> str:
    return "?" if value is None else str(value)


def _segment_row(info: object) -> dict[str, object]:
    from .shm import SegmentInfo

    assert isinstance(info, SegmentInfo)
    meta = info.meta or {}
    layout = ""
    if "shape" in meta:
        layout = f"shape={tuple(meta['shape'])} descr={meta['descr']!r}"
    elif meta:
        layout = ", ".join(f"{key}={value}" for key, value in meta.items())
    return {
        "name": info.name,
        "kind": info.kind,
        "state": info.state,
        "creator_pid": info.creator_pid,
        "owner_uid": info.owner_uid,
        "label": info.label,
        "size_bytes": info.size_bytes,
        "layout": layout,
        "reason": info.reason,
    }


def _shm_clean(arguments: argparse.Namespace) -> int:
    from .shm import cleanup_stale

    removed = cleanup_stale(names=arguments.names or None, label=arguments.label)
    for name in removed:
        print(f"removed {name}")
    print(f"{len(removed)} stale segment(s) removed; live segments, other users' and files "
          "without an ataraxis-like header are never touched")  # fmt: skip
    return EXIT_OK


def _demo(arguments: argparse.Namespace) -> int:
    from .demo import run_demo

    return run_demo(arguments)


def _bench(arguments: argparse.Namespace) -> int:
    import subprocess

    candidates = [
        Path.cwd() / "benchmarks" / "run_all.py",
        Path(__file__).resolve().parents[2] / "benchmarks" / "run_all.py",
    ]
    script = next((path for path in candidates if path.is_file()), None)
    if script is None:
        print(
            "ataraxis-like: error: benchmarks/run_all.py not found here; the benchmarks live in "
            "the source checkout: run this command from its root",
            file=sys.stderr,
        )
        return EXIT_ERROR
    command = [sys.executable, str(script), "--repeats", str(arguments.repeats)]
    if arguments.list:
        command.append("--list")
    if arguments.record:
        command.append("--record")
    if arguments.only:
        command += ["--only", arguments.only]
    return subprocess.call(command)


def _chaos(arguments: argparse.Namespace) -> int:
    from .chaos import report_json, report_lines, run_chaos

    seconds = arguments.seconds if arguments.seconds is not None else arguments.minutes * 60
    progress = progress_stream(machine_output=arguments.json)
    if progress is not None:
        print(f"chaos: {arguments.producers} log producers, a logger, {arguments.clients} sink "
              f"clients and a sink writer for {seconds:g} s, killing processes at random ...",
              file=progress, flush=True)  # fmt: skip
    report = run_chaos(seconds, arguments.producers, arguments.seed, arguments.output,
                       clients=arguments.clients, deadline=arguments.deadline)  # fmt: skip
    print(report_json(report) if arguments.json else "\n".join(report_lines(report)))
    return EXIT_OK if report.passed else EXIT_PROBLEM


def _inspect(arguments: argparse.Namespace) -> int:
    from ._inspect_command import run_inspect

    return run_inspect(arguments)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ataraxis-like",
        description="Live data between processes through shared memory, safely onto disk.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action=_PrintVersion, nargs=0, default=argparse.SUPPRESS,
                        help="show program's version number and exit")  # fmt: skip
    commands = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=_CommandParser
    )

    demo = commands.add_parser("demo", help="run the whole pipeline and prove nothing was lost")
    demo.add_argument("--seconds", type=float, default=5.0, help="how long producers send")
    demo.add_argument("--producers", type=int, default=2, help="producer processes")
    demo.add_argument("--rate", type=float, default=1000.0, help="entries/s per producer")
    demo.add_argument("--payload", type=int, default=256, help="bytes per entry")
    demo.add_argument("--output", type=Path, default=None,
                      help="output directory (default: a new folder here)")  # fmt: skip
    demo.add_argument("--json", action="store_true", help="print a machine-readable summary")
    demo.set_defaults(handler=_demo)

    bench = commands.add_parser(
        "bench", help="run every benchmark beside its reference (from the source checkout)"
    )
    bench.add_argument("--repeats", type=int, default=3, help="runs per figure (median)")
    bench.add_argument("--only", default="", help="comma-separated benchmarks, e.g. shm,queue")
    bench.add_argument("--list", action="store_true", help="print the benchmarks' names and stop")
    bench.add_argument("--record", action="store_true",
                       help="write the figures into benchmarks/RESULTS.md (nothing else is "
                       "written into the checkout; exit 1 when a goal is missed)")  # fmt: skip
    bench.set_defaults(handler=_bench)

    chaos = commands.add_parser(
        "chaos", help="run under load while killing processes; fail on any loss or deadlock"
    )
    chaos.add_argument("--minutes", type=float, default=1.0, help="how long to run")
    chaos.add_argument("--seconds", type=float, default=None, help="run length in seconds")
    chaos.add_argument("--producers", type=int, default=3, help="producer processes")
    chaos.add_argument("--clients", type=int, default=2, help="HDF5 sink client processes")
    chaos.add_argument("--seed", type=int, default=0, help="seed of the random kills")
    chaos.add_argument("--deadline", type=float, default=None,
                       help="seconds for the whole run including shutdown before it counts as "
                       "a deadlock (default: run length + 60)")  # fmt: skip
    chaos.add_argument("--output", type=Path, default=None, help="directory for the logs")
    chaos.add_argument("--json", action="store_true", help="print a machine-readable report")
    chaos.set_defaults(handler=_chaos)

    inspect = commands.add_parser(
        "inspect",
        help="show a log directory or archive, an HDF5 file, a YAML config or an experiment",
        description="Show what PATH holds. Its kind is detected from the path:\n"
        "  a directory holding results.h5   an experiment (one row per run)\n"
        "  any other directory              a log directory (batch files and archives)\n"
        "  a file with the HDF5 signature   an HDF5 file (keys, rows, attributes, writer state)\n"
        "  a .npz (zip) file                a log archive\n"
        "  a .yaml or .yml file             a YAML config (keys, values, types, lines)",
    )
    inspect.add_argument("path", type=Path, help="what to inspect")
    inspect.add_argument("--json", action="store_true", help="print JSON")
    inspect.add_argument("--gaps", type=int, default=3, help="logs: largest gaps per source")
    inspect.add_argument("--plot", type=Path, default=None, metavar="OUT.png",
                         help="logs: draw rate over time and interval histograms per source "
                         "(needs matplotlib: pip install 'ataraxis-like[plot]')")  # fmt: skip
    inspect.set_defaults(handler=_inspect)

    shm = commands.add_parser("shm", help="list or clean shared-memory segments")
    shm_commands = shm.add_subparsers(dest="shm_command", required=True, metavar="ACTION")
    listing = shm_commands.add_parser("ls", help="list this library's segments and their state")
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.add_argument("--label", default=None,
                         help="only segments made with ATARAXIS_LIKE_SHM_LABEL=LABEL")  # fmt: skip
    listing.set_defaults(handler=_shm_ls)
    clean = shm_commands.add_parser(
        "clean", help="remove this user's segments whose creator is dead"
    )
    clean.add_argument("--label", default=None,
                       help="only segments made with ATARAXIS_LIKE_SHM_LABEL=LABEL")  # fmt: skip
    clean.add_argument(
        "names", nargs="*", metavar="NAME",
        help="only these segments (default: all); a named segment whose creator cannot be "
        "judged (made by version 1) is removed too",
    )  # fmt: skip
    clean.set_defaults(handler=_shm_clean)
    commands.add_parser(
        "compress",
        help="build one <source_id>_log.npz archive per source from a log directory",
        configure=_configure_compress,
    )
    commands.add_parser(
        "recover",
        help="reopen an HDF5 file whose writer was killed (no h5clear needed)",
        configure=_configure_recover,
    )
    _add_epilogs(commands)
    return parser


def _add_epilogs(commands: argparse._SubParsersAction[Any]) -> None:
    """Every subcommand's ``--help`` ends with the exit codes."""
    for parser in commands.choices.values():
        parser.epilog = EXIT_CODES
        parser.formatter_class = argparse.RawDescriptionHelpFormatter
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                _add_epilogs(action)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    arguments = parser.parse_args(argv)
    handler: Command = arguments.handler
    try:
        return handler(arguments)
    except AtaraxisError as error:
        print(f"ataraxis-like: error: {error}", file=sys.stderr)
        return EXIT_ERROR
    except OSError as error:  # a file the job needed: missing, unreadable, disk full
        where = f"{error.filename}: " if error.filename else ""
        print(f"ataraxis-like: error: {where}{error.strerror or error}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("ataraxis-like: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
