"""``imload sweep``: remove what runs killed without their clean-up left here (the packet
faults' network namespaces, veth pairs and nft tables; docs/chaos.md, "Packet faults")."""

from __future__ import annotations

import argparse
import os

from rich.markup import escape

from imload.commands.args import SubParsers
from imload.console import make_console
from imload.slo import EXIT_ERROR


def add_sweep(sub: SubParsers) -> None:
    p = sub.add_parser("sweep", help="remove the network namespaces of packet faults that "
                       "runs killed outright (SIGKILL) left behind (as root)",
                       epilog="exit codes: 0 nothing left, or all of it removed; 2 something "
                              "could not be removed, or not root")
    p.add_argument("--dry-run", action="store_true",
                   help="only say what would be removed")


def cmd_sweep(args: argparse.Namespace) -> int:
    from imload.faults.netns import NetError, sweep

    err = make_console(stderr=True)
    if os.geteuid() != 0:
        err.print("imload sweep: network namespaces are root's: run it as root",
                  highlight=False)
        return EXIT_ERROR
    try:
        stale, errors = sweep(dry_run=args.dry_run)
    except NetError as e:
        err.print(f"[red]imload sweep: {escape(str(e))}[/]", highlight=False, soft_wrap=True)
        return EXIT_ERROR
    verb = "would remove" if args.dry_run else "removed"
    for ns in stale:
        print(f"{verb} {ns} (its run is gone): the namespace, its veth pair and nft table")
    if not stale:
        print("nothing left behind: every imload network namespace here belongs to a "
              "running imload")
    for e in errors:
        err.print(f"[red]could not remove:[/] {escape(e)}", highlight=False, soft_wrap=True)
    return EXIT_ERROR if errors else 0
