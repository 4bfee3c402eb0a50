"""The ``imload`` command line: orchestration and presentation only.

Each subcommand's parser and handler live in ``imload/commands/`` (one module per family);
this module assembles them in the order ``imload --help`` lists them.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from imload import __version__
from imload.commands import cluster, drills, files, results, shrink, sweep
from imload.commands.args import EXIT_CODES_HELP, Parser, SubParsers
from imload.init import add_init_parser, main_init
from imload.slo import EXIT_ERROR

Handler = Callable[[argparse.Namespace], int]


def cmd_init(args: argparse.Namespace) -> int:
    return main_init(args, sys.stdout, sys.stderr)


# (name, adds its parser, runs it), in the order of ``imload --help``
COMMANDS: tuple[tuple[str, Callable[[SubParsers], None], Handler], ...] = (
    ("run", drills.add_run, drills.cmd_run),
    ("avalanche", drills.add_avalanche, drills.cmd_avalanche),
    ("capacity", drills.add_capacity, drills.cmd_capacity),
    ("shrink", shrink.add_shrink, shrink.cmd_shrink),
    ("compare", results.add_compare, results.cmd_compare),
    ("verify", results.add_verify, results.cmd_verify),
    ("probe", results.add_probe, results.cmd_probe),
    ("journal", files.add_journal, files.cmd_journal),
    ("trace", files.add_trace, files.cmd_trace),
    ("cluster", cluster.add_cluster, cluster.cmd_cluster),
    ("sweep", sweep.add_sweep, sweep.cmd_sweep),
    ("init", add_init_parser, cmd_init),
)


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog="imload", description="Load and chaos testing for IM (chat) backends, "
               "with a checker that proves no acknowledged message was lost.",
               epilog=EXIT_CODES_HELP)
    p.add_argument("--version", action="version", version=f"imload {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for _name, add, _handler in COMMANDS:
        add(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_ERROR
    if args.command in ("cluster", "trace") and args.action is None:
        parser.parse_args([args.command, "--help"])
    handlers = {name: handler for name, _add, handler in COMMANDS}
    return handlers[args.command](args)


if __name__ == "__main__":
    raise SystemExit(main())
