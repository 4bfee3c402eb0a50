"""``imload journal`` and ``imload trace``: the files a run reads and writes."""

from __future__ import annotations

import argparse
import sys

from rich.markup import escape

from imload.commands.args import Parser, SubParsers, positive_float, positive_int
from imload.console import make_console
from imload.slo import EXIT_ERROR


def add_journal(sub: SubParsers) -> None:
    journal = sub.add_parser("journal", help="look into a journal, convert it between JSON "
                             "lines and columnar (docs/journal.md)")
    jsub = journal.add_subparsers(dest="action", metavar="ACTION", parser_class=Parser)
    jsub.required = True
    jstats = jsub.add_parser("stats", help="files, events per kind, bytes per event and message")
    jstats.add_argument("path", nargs="+", help="run folder, journal folder or journal file")
    jprint = jsub.add_parser("print", help="the events as JSON lines, in time order")
    jprint.add_argument("path", nargs="+", help="run folder, journal folder or journal file")
    jprint.add_argument("--kind", action="append", default=[], metavar="EV",
                        help="only events of this kind (repeat for more)")
    jprint.add_argument("--limit", type=positive_int, metavar="N", help="the first N only")
    jconv = jsub.add_parser("convert", help="write the journal again in the other form")
    jconv.add_argument("path", nargs="+", help="run folder, journal folder or journal file")
    jconv.add_argument("--out", required=True, help="folder for the converted files")
    jconv.add_argument("--to", default="columnar", choices=("columnar", "jsonl"),
                       help="the form to write (default columnar)")


def add_trace(sub: SubParsers) -> None:
    trace = sub.add_parser("trace", help="traffic traces (docs/traffic.md)")
    tsub = trace.add_subparsers(dest="action", metavar="ACTION", parser_class=Parser)
    synth = tsub.add_parser("synth", help="write the traffic model's trace for a scenario")
    synth.add_argument("--scenario", required=True, help="scenario TOML: its [load] and seed")
    synth.add_argument("--out", required=True, help="the trace file to write (JSONL)")
    synth.add_argument("--devices", type=positive_int, metavar="N",
                       help="devices (default: the scenario's load.users)")
    synth.add_argument("--duration", type=positive_float, metavar="S",
                       help="seconds of traffic (default: the scenario's load.duration_s)")
    synth.add_argument("--mix", help="traffic mix (default: the scenario's load.mix, or chat)")


def cmd_journal(args: argparse.Namespace) -> int:
    from imload.journal import JournalError
    from imload.journal.command import convert, print_events, stats
    try:
        if args.action == "stats":
            return stats(args.path, sys.stdout)
        if args.action == "print":
            return print_events(args.path, sys.stdout, args.kind, args.limit)
        return convert(args.path, args.out, args.to, sys.stdout)
    except JournalError as e:
        make_console(stderr=True).print(f"[red]imload journal {args.action}: {escape(str(e))}[/]",
                                  highlight=False, soft_wrap=True)
        return EXIT_ERROR
    except BrokenPipeError:  # ``imload journal print ... | head``
        sys.stderr.close()
        return 0


def cmd_trace(args: argparse.Namespace) -> int:
    from imload.scenario import ScenarioError, load_scenario
    from imload.traffic.mix_table import resolve
    from imload.traffic.trace import synth_file
    err = make_console(stderr=True)
    try:
        scenario = load_scenario(args.scenario)
        load = scenario.load
        # --mix names another mix; the scenario's [load.mix] fields still apply to it
        mix = resolve(args.mix or load.mix or "chat", load.mix_overrides)
        summary = synth_file(args.out, devices=args.devices or load.users, mix=mix,
                             seed=scenario.seed, duration_s=args.duration or load.duration_s,
                             msg_interval_s=load.msg_interval_s, people=load.population)
    except (ScenarioError, ValueError, OSError) as e:
        err.print(f"[red]imload trace synth: {escape(str(e))}[/]", highlight=False)
        return EXIT_ERROR
    acts = ", ".join(f"{n} {k}" for k, n in sorted(summary["actions"].items()))
    make_console().print(f"wrote {args.out}: {summary['devices']} devices of {summary['people']} "
                    f"people, {summary['groups']} groups; {acts}", highlight=False)
    return 0
