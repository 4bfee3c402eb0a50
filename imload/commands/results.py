"""``imload compare``, ``imload verify``, ``imload probe``: judging what was recorded or
what a target does, without making load."""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path
from typing import Any

import orjson
from rich.markup import escape

from imload.commands.args import EXIT_CODES_HELP, SubParsers, size
from imload.console import make_console
from imload.slo import EXIT_ERROR, Slo, exit_code


def add_compare(sub: SubParsers) -> None:
    cmp = sub.add_parser("compare", help="what changed between two runs; exit 1 when the "
                         "second regressed", epilog="exit codes: 0 B is no worse than A; 1 B "
                         "regressed (a coverage drop too); 2 a verdict is missing")
    cmp.add_argument("a", help="run folder (or verdict.json) before")
    cmp.add_argument("b", help="run folder (or verdict.json) after")


def add_verify(sub: SubParsers) -> None:
    verify = sub.add_parser("verify", help="check a recorded run folder again (with its "
                            "scenario's SLOs, else the default ones)", epilog=EXIT_CODES_HELP)
    verify.add_argument("dir", nargs="+", help="run folder (holds journal/), then any journal "
                        "shard folders of the same run (one per machine; a quoted glob works)")
    verify.add_argument("--json", action="store_true", help="print the verdict as JSON")
    verify.add_argument("--checker", choices=("auto", "duckdb", "reference"), default="auto",
                        help="duckdb: the checker in DuckDB, for journals too big to hold "
                             "(the same verdict); reference: the checker in Python; auto "
                             "(default): DuckDB from 64 MiB of columnar journal on")
    verify.add_argument("--memory-limit", default="550MB", metavar="SIZE", type=size,
                        help="the DuckDB checker's memory limit (it spills to disk past it); "
                             "default 550MB, enough for 1M messages (5M events one-to-one, "
                             "13M with group chats); more for tens of millions")


def add_probe(sub: SubParsers) -> None:
    probe = sub.add_parser("probe", help="security and abuse checks against a target's node "
                           "(protocol v1; docs/security.md)", epilog="exit codes: 0 every "
                           "check passed; 1 one failed; 3 some could not be tried; 2 error")
    probe.add_argument("target", help="target file (e.g. DIR/target.toml of imload cluster up)")
    probe.add_argument("--out", default="runs/probe", help="where probe.json and junit.xml go")
    probe.add_argument("--node", default=None, help="the node to probe (default: the first)")
    probe.add_argument("--slow-s", type=float, default=15.0,
                       help="how long to wait for the node to close a slow socket (15)")


def cmd_compare(args: argparse.Namespace) -> int:
    from imload.compare import main_compare
    return main_compare(Path(args.a), Path(args.b), make_console())


def cmd_verify(args: argparse.Namespace) -> int:
    from imload.journal import JournalError
    from imload.journal.shards import journal_folders
    from imload.judge import judge, run_fields, suite_name, write_outputs
    from imload.report.console import render_verdict
    from imload.report.verdict_json import read_verdict
    err = make_console(stderr=True)
    try:
        folder, folders = journal_folders(args.dir)
    except JournalError as e:
        err.print(f"[red]imload verify: {escape(str(e))}[/]", highlight=False, soft_wrap=True)
        return EXIT_ERROR
    run_folder = (folder / "journal").is_dir()
    slos: list[Slo] = []  # without a scenario: the default SLOs (anomalies 0, coverage 100 %)
    scenario_file = folder / "scenario.toml"
    if scenario_file.is_file():  # a run folder: gate with the drill's SLOs again
        from imload.scenario import ScenarioError, load_scenario
        try:
            slos = load_scenario(scenario_file).slos
        except ScenarioError as e:
            err.print(f"imload verify: ignoring the scenario's SLOs: {escape(str(e))}",
                      highlight=False, soft_wrap=True)
    run: dict[str, Any] = {}
    if run_folder and (folder / "verdict.json").is_file():  # keep what only the run knew
        with contextlib.suppress(ValueError, OSError):
            run = run_fields(read_verdict(folder / "verdict.json"))
    try:
        with err.status(f"checking the journal ({args.checker} checker)"):
            judged = judge(folders, slos, run=run, checker=args.checker,
                           memory_limit=args.memory_limit)
    except JournalError as e:
        err.print(f"[red]imload verify: {escape(str(e))}[/]", highlight=False, soft_wrap=True)
        return EXIT_ERROR
    if judged.note:
        err.print(f"imload verify: {escape(judged.note)}", highlight=False)
    verdict = judged.verdict
    if run_folder:  # a run folder: every file follows the new verdict, as a run writes them
        write_outputs(folder, judged, suite_name(run.get("scenario")))
    if args.json:
        sys.stdout.write(orjson.dumps(verdict, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        render_verdict(verdict, make_console(), str(folder))
    return exit_code(verdict)


def cmd_probe(args: argparse.Namespace) -> int:
    from imload.probe.command import main_probe
    return main_probe(args.target, Path(args.out), make_console(), args.node, args.slow_s)
