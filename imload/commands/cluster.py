"""``imload cluster``: start, stop, inspect and break a local cluster."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

from imload.commands.args import Parser, SubParsers, autosave
from imload.console import make_console
from imload.slo import EXIT_ERROR


def add_cluster(sub: SubParsers) -> None:
    cluster = sub.add_parser("cluster", help="a local cluster (reference, Prosody, ejabberd, "
                             "Mosquitto)")
    csub = cluster.add_subparsers(dest="action", metavar="ACTION", parser_class=Parser)
    _add_up(csub)
    for name, text in (("down", "stop every process of the cluster"),
                       ("status", "show the cluster's processes")):
        c = csub.add_parser(name, help=text)
        c.add_argument("--dir", required=True)
    for name, text in (("kill", "SIGKILL one node (or the store)"),
                       ("restart", "start a killed node (or the store) again")):
        c = csub.add_parser(name, help=text)
        c.add_argument("--dir", required=True)
        c.add_argument("--node", required=True, help="a node name, or 'store' for Redis")


def _add_up(csub: SubParsers) -> None:
    up = csub.add_parser("up", help="start a backend behind Toxiproxy; write DIR/target.toml "
                         "(reference: Redis, an LBS and N nodes; prosody: one Prosody server; "
                         "mosquitto: one MQTT broker)")
    up.add_argument("--dir", required=True)
    from imload.cluster.backends import BACKENDS  # the registry names the choices
    up.add_argument("--backend", choices=tuple(BACKENDS), default="reference",
                    help="what to start (default: reference; see docs/backends/)")
    up.add_argument("--nodes", type=int,
                    help="nodes (reference: default 3; prosody, mosquitto: 1; ejabberd: "
                         "default 2)")
    up.add_argument("--no-smacks", action="store_true",
                    help="prosody, ejabberd: leave out stream management (XEP-0198)")
    up.add_argument("--qos", type=int, choices=(0, 1),
                    help="mosquitto: the QoS devices publish and subscribe with (default 1)")
    up.add_argument("--autosave-interval", type=autosave, metavar="S|default",
                    help="mosquitto: seconds between saves of the broker's database (default "
                         "1; 0: only at a clean exit; 'default': Mosquitto's own, 1800)")
    up.add_argument("--bug", help="start the nodes with a bug mode (see docs/protocol.md)")
    up.add_argument("--tls", action="store_true",
                    help="serve wss:// and https:// with a throwaway CA (DIR/ca.pem)")
    up.add_argument("--node-arg", action="append", default=[], metavar="ARG",
                    help="an extra argument for every node, e.g. --node-arg=--max-conns=500")


def cmd_cluster(args: argparse.Namespace) -> int:
    from imload.cluster.backends import load_cluster
    from imload.cluster.local import ClusterError
    console = make_console()
    err = make_console(stderr=True)
    folder = Path(args.dir)
    try:
        if args.action == "up":
            return _cluster_up(args, folder, console, err)
        cluster = load_cluster(folder)
        if args.action == "down":
            cluster.stop()
            console.print("cluster down")
        elif args.action == "status":
            for name, part in cluster.status().items():
                state = "[green]up[/]" if part.get("alive") else "[red]down[/]"
                console.print(f"{name:10} {state}  pid {part.get('pid')}  port {part.get('port')}")
        elif args.action == "kill":
            cluster.kill_part("redis") if args.node == "store" else cluster.kill_node(args.node)
        elif args.action == "restart":
            if args.node == "store":
                cluster.restart_part("redis")
            else:
                cluster.restart_node(args.node)
        return 0
    except ClusterError as e:
        err.print(f"[red]imload cluster {args.action}: {escape(str(e))}[/]", highlight=False)
        return EXIT_ERROR


def _cluster_up(args: argparse.Namespace, folder: Path, console: Console, err: Console) -> int:
    from imload.cluster.backends import new_cluster
    if args.nodes is not None and args.nodes < 1:
        err.print("[red]imload cluster up: --nodes must be at least 1[/]")
        return EXIT_ERROR
    given = {"nodes": args.nodes, "bug": args.bug, "tls": args.tls or None,
             "node_args": args.node_arg or None,
             "smacks": False if args.no_smacks else None, "qos": args.qos}
    options: dict[str, Any] = {k: v for k, v in given.items() if v is not None}
    if args.autosave_interval is not None:  # "default": None, Mosquitto's own
        options["autosave_interval_s"] = (None if args.autosave_interval == "default"
                                          else args.autosave_interval)
    cluster = new_cluster(args.backend, folder, **options)
    with err.status(f"starting the {args.backend} cluster"):
        cluster.start()
    console.print(f"cluster up: target file {folder / 'target.toml'}")
    console.print(f"stop it with: imload cluster down --dir {folder}")
    return 0
