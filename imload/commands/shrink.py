"""``imload shrink``: the smallest drill that still fails like a failed run (docs/shrink.md)."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.markup import escape

from imload.commands.args import SubParsers, positive_float, positive_int
from imload.console import make_console
from imload.slo import EXIT_ERROR


def add_shrink(sub: SubParsers) -> None:
    p = sub.add_parser("shrink", help="shrink a failed run to the smallest drill that still "
                       "fails with the same anomaly kind (docs/shrink.md)",
                       epilog="exit codes: 0 a minimal drill was written; 2 the run cannot "
                              "be shrunk, or a try did not run (what was found is written)")
    p.add_argument("run_dir", metavar="RUN_DIR", help="a failed run's folder (imload run --out)")
    p.add_argument("--kind", metavar="KIND",
                   help="the anomaly kind to keep (default: the run's first in the checker's "
                        "report order, docs/checker.md: lost before gap)")
    p.add_argument("--tries", type=positive_int, default=2, metavar="K",
                   help="replays of each candidate, at most (default: %(default)s)")
    p.add_argument("--min-fails", type=positive_int, default=1, metavar="M",
                   help="a candidate still fails when at least M of its K replays report "
                        "the kind (default: %(default)s)")
    p.add_argument("--budget-s", type=positive_float, default=600.0, metavar="S",
                   help="stop searching after S seconds and keep the smallest failing drill "
                        "found (default: %(default)s)")
    p.add_argument("--target", metavar="FILE",
                   help="target TOML file to replay against (default: the run's target; a "
                        "run on 'local' gets one cluster of its [cluster] for all the tries)")


def cmd_shrink(args: argparse.Namespace) -> int:
    from imload.run_setup import sigterm_as_interrupt
    from imload.shrink.search import Settings, ShrinkError, shrink

    err = make_console(stderr=True)
    if args.min_fails > args.tries:
        err.print(f"imload shrink: --min-fails {args.min_fails} is more than --tries "
                  f"{args.tries}", highlight=False)
        return EXIT_ERROR
    if args.target and not Path(args.target).is_file():
        err.print(f"imload shrink: --target {args.target}: no such file", highlight=False)
        return EXIT_ERROR
    settings = Settings(kind=args.kind, tries=args.tries, min_fails=args.min_fails,
                        budget_s=args.budget_s,
                        target=str(Path(args.target).resolve()) if args.target else None)
    run_dir = Path(args.run_dir).resolve()
    try:
        with sigterm_as_interrupt():
            figures = shrink(run_dir, settings, lambda s: print(s, flush=True), err)
    except ShrinkError as e:
        err.print(f"[red]imload shrink: {escape(str(e))}[/]", highlight=False, soft_wrap=True)
        return EXIT_ERROR
    except KeyboardInterrupt:
        err.print("[yellow]imload shrink: interrupted; what the tries started is stopped[/]")
        return EXIT_ERROR
    b, a = figures["before"], figures["after"]
    print(f"{figures['kind']}: devices {b['devices']} -> {a['devices']}, messages "
          f"{b['messages']} -> {a['messages']}, faults {b['faults']} -> {a['faults']}; "
          f"{figures['tries']} tries, {figures['wall_s']:g} s")
    print(f"wrote {run_dir / 'shrink'}/minimal.toml, minimal-trace.jsonl, README.md "
          "(the report)")
    if figures["stopped"]:
        print(f"stopped early: {figures['stopped']}")
    return EXIT_ERROR if figures["stopped"].startswith("try-") else 0
