"""The ``imload`` command line: orchestration and presentation only."""

from __future__ import annotations

import argparse
import contextlib
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
from rich.markup import escape

from imload import __version__
from imload.console import make_console
from imload.slo import EXIT_ERROR, Slo, exit_code

if TYPE_CHECKING:
    from imload.scenario import Scenario

EXIT_CODES_HELP = ("exit codes: 0 passed; 1 failed (an anomaly, or an SLO missed); 2 the run "
                   "could not be made; 3 unknown: not everything could be judged (a check's "
                   "coverage short, or nothing acked or delivered)")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # exit 2 with one clear line, no traceback
        self.print_usage(sys.stderr)
        self.exit(EXIT_ERROR, f"{self.prog}: error: {message}\n")


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text}")
    return value


def _size(text: str) -> str:
    """A memory size as DuckDB takes it: ``600MB``, ``8GB``, ``1.5GiB``."""
    import re
    if not re.fullmatch(r"\d+(\.\d+)?\s*([KMGT]i?B)", text.strip(), re.IGNORECASE):
        raise argparse.ArgumentTypeError(f"not a size like 600MB or 8GB: {text!r}")
    return text.strip()


def _listen(text: str) -> str:
    """``--prometheus``: HOST:PORT (or a port, on 127.0.0.1) as imload.live.prometheus takes it."""
    from imload.live.prometheus import parse_listen
    try:
        parse_listen(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return text


def _autosave(text: str) -> int | str:
    """``--autosave-interval``: whole seconds >= 0, or ``default``."""
    if text == "default":
        return text
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number or 'default': {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be at least 0, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="imload", description="Load and chaos testing for IM (chat) backends, "
                "with a checker that proves no acknowledged message was lost.",
                epilog=EXIT_CODES_HELP)
    p.add_argument("--version", action="version", version=f"imload {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    run = sub.add_parser("run", help="run a scenario: load + chaos + audit + check",
                         epilog=EXIT_CODES_HELP)
    run.add_argument("scenario", help="scenario TOML file (see chaos/)")
    run.add_argument("--out", required=True, help="run folder for the journal and verdict")
    run.add_argument("--target", help="target TOML file; overrides the scenario's target")
    run.add_argument("--time-scale", type=_positive_float, default=1.0, metavar="F",
                     help="multiply the load's duration and every fault time by F "
                          "(0.25: a quarter-length drill)")
    run.add_argument("--users", type=_positive_int, metavar="N",
                     help="run N simulated devices instead of the scenario's load.users")
    run.add_argument("--workers", type=_positive_int, metavar="N",
                     help="Locust processes on this machine (overrides load.processes)")
    run.add_argument("--expect-workers", type=_positive_int, metavar="N",
                     help="run Locust as a master and wait for N workers started elsewhere "
                          "(docs/distributed.md)")
    run.add_argument("--master-host", metavar="ADDR",
                     help="address the master listens on for workers (default 127.0.0.1)")
    run.add_argument("--master-port", type=_positive_int, metavar="PORT",
                     help="port the master listens on for workers (default 5557)")
    run.add_argument("--keep-cluster", action="store_true",
                     help="leave a local cluster running after the run (stop it with "
                          "'imload cluster down --dir OUT/cluster')")
    run.add_argument("--prometheus", type=_listen, metavar="HOST:PORT",
                     help="serve the live figures for Prometheus on HOST:PORT (port 0: a free "
                          "one); overrides [metrics] prometheus (docs/metrics.md)")

    aval = sub.add_parser("avalanche", help="run a node-kill drill once per backoff policy and "
                          "compare the reconnect storms")
    aval.add_argument("scenario", help="scenario with a kill fault (chaos/avalanche.toml)")
    aval.add_argument("--out", required=True, help="folder; one run folder per policy inside")
    aval.add_argument("--policies", default="none,exponential,full_jitter,decorrelated",
                      help="comma-separated backoff policies (default: %(default)s)")
    aval.add_argument("--target", help="target TOML file; overrides the scenario's target")
    aval.add_argument("--time-scale", type=_positive_float, default=1.0, metavar="F")
    aval.add_argument("--users", type=_positive_int, metavar="N")

    cap = sub.add_parser("capacity", help="add users in steps and find the highest step "
                         "within the SLOs (the scenario's [capacity] table)")
    cap.add_argument("scenario", help="scenario TOML with [capacity] steps (chaos/capacity.toml)")
    cap.add_argument("--out", required=True, help="run folder")
    cap.add_argument("--target", help="target TOML file; overrides the scenario's target")
    cap.add_argument("--prometheus", type=_listen, metavar="HOST:PORT",
                     help="serve the live figures for Prometheus (docs/metrics.md)")

    cmp = sub.add_parser("compare", help="what changed between two runs; exit 1 when the "
                         "second regressed", epilog="exit codes: 0 B is no worse than A; 1 B "
                         "regressed (a coverage drop too); 2 a verdict is missing")
    cmp.add_argument("a", help="run folder (or verdict.json) before")
    cmp.add_argument("b", help="run folder (or verdict.json) after")

    verify = sub.add_parser("verify", help="check a recorded run folder again (with its "
                            "scenario's SLOs, else the default ones)", epilog=EXIT_CODES_HELP)
    verify.add_argument("dir", nargs="+", help="run folder (holds journal/), then any journal "
                        "shard folders of the same run (one per machine; a quoted glob works)")
    verify.add_argument("--json", action="store_true", help="print the verdict as JSON")
    verify.add_argument("--checker", choices=("auto", "duckdb", "reference"), default="auto",
                        help="duckdb: the checker in DuckDB, for journals too big to hold "
                             "(the same verdict); reference: the checker in Python; auto "
                             "(default): DuckDB from 64 MiB of columnar journal on")
    verify.add_argument("--memory-limit", default="600MB", metavar="SIZE", type=_size,
                        help="the DuckDB checker's memory limit (it spills to disk past it); "
                             "default 600MB, enough for 1M messages; more for tens of millions")

    probe = sub.add_parser("probe", help="security and abuse checks against a target's node "
                           "(protocol v1; docs/security.md)", epilog="exit codes: 0 every "
                           "check passed; 1 one failed; 3 some could not be tried; 2 error")
    probe.add_argument("target", help="target file (e.g. DIR/target.toml of imload cluster up)")
    probe.add_argument("--out", default="runs/probe", help="where probe.json and junit.xml go")
    probe.add_argument("--node", default=None, help="the node to probe (default: the first)")
    probe.add_argument("--slow-s", type=float, default=15.0,
                       help="how long to wait for the node to close a slow socket (15)")

    journal = sub.add_parser("journal", help="look into a journal, convert it between JSON "
                             "lines and columnar (docs/journal.md)")
    jsub = journal.add_subparsers(dest="action", metavar="ACTION", parser_class=_Parser)
    jsub.required = True
    jstats = jsub.add_parser("stats", help="files, events per kind, bytes per event and message")
    jstats.add_argument("path", nargs="+", help="run folder, journal folder or journal file")
    jprint = jsub.add_parser("print", help="the events as JSON lines, in time order")
    jprint.add_argument("path", nargs="+", help="run folder, journal folder or journal file")
    jprint.add_argument("--kind", action="append", default=[], metavar="EV",
                        help="only events of this kind (repeat for more)")
    jprint.add_argument("--limit", type=_positive_int, metavar="N", help="the first N only")
    jconv = jsub.add_parser("convert", help="write the journal again in the other form")
    jconv.add_argument("path", nargs="+", help="run folder, journal folder or journal file")
    jconv.add_argument("--out", required=True, help="folder for the converted files")
    jconv.add_argument("--to", default="columnar", choices=("columnar", "jsonl"),
                       help="the form to write (default columnar)")

    trace = sub.add_parser("trace", help="traffic traces (docs/traffic.md)")
    tsub = trace.add_subparsers(dest="action", metavar="ACTION", parser_class=_Parser)
    synth = tsub.add_parser("synth", help="write the traffic model's trace for a scenario")
    synth.add_argument("--scenario", required=True, help="scenario TOML: its [load] and seed")
    synth.add_argument("--out", required=True, help="the trace file to write (JSONL)")
    synth.add_argument("--devices", type=_positive_int, metavar="N",
                       help="devices (default: the scenario's load.users)")
    synth.add_argument("--duration", type=_positive_float, metavar="S",
                       help="seconds of traffic (default: the scenario's load.duration_s)")
    synth.add_argument("--mix", help="traffic mix (default: the scenario's load.mix, or chat)")

    cluster = sub.add_parser("cluster", help="a local cluster (reference, Prosody, ejabberd, "
                             "Mosquitto)")
    csub = cluster.add_subparsers(dest="action", metavar="ACTION", parser_class=_Parser)
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
    up.add_argument("--autosave-interval", type=_autosave, metavar="S|default",
                    help="mosquitto: seconds between saves of the broker's database (default "
                         "1; 0: only at a clean exit; 'default': Mosquitto's own, 1800)")
    up.add_argument("--bug", help="start the nodes with a bug mode (see docs/protocol.md)")
    up.add_argument("--tls", action="store_true",
                    help="serve wss:// and https:// with a throwaway CA (DIR/ca.pem)")
    up.add_argument("--node-arg", action="append", default=[], metavar="ARG",
                    help="an extra argument for every node, e.g. --node-arg=--max-conns=500")
    for name, text in (("down", "stop every process of the cluster"),
                       ("status", "show the cluster's processes")):
        c = csub.add_parser(name, help=text)
        c.add_argument("--dir", required=True)
    for name, text in (("kill", "SIGKILL one node (or the store)"),
                       ("restart", "start a killed node (or the store) again")):
        c = csub.add_parser(name, help=text)
        c.add_argument("--dir", required=True)
        c.add_argument("--node", required=True, help="a node name, or 'store' for Redis")
    from imload.init import add_init_parser  # imload init: a first drill's two files
    add_init_parser(sub)
    return p


def cmd_run(args: argparse.Namespace) -> int:
    from imload.run import run_scenario
    from imload.scenario import ScenarioError, load_scenario, rescale
    err = make_console(stderr=True)
    try:
        scenario = rescale(load_scenario(args.scenario), args.time_scale, args.users)
    except ScenarioError as e:
        err.print(f"[red]imload run: {escape(str(e))}[/]", highlight=False, soft_wrap=True)
        return EXIT_ERROR
    if args.workers:
        scenario = replace(scenario, load=replace(scenario.load, processes=args.workers))
    scenario = _with_prometheus(scenario, args.prometheus)
    overrides = {k: v for k, v in (("expect_workers", args.expect_workers),
                                   ("master_host", args.master_host),
                                   ("master_port", args.master_port)) if v}
    if overrides:
        scenario = replace(scenario, load=replace(scenario.load, **overrides))
    if scenario.load.expect_workers:
        load = scenario.load
        err.print(f"waiting for {load.expect_workers} workers: on each worker machine run\n"
                  f"  locust -f locustfiles/{load.locustfile}.py --worker --master-host "
                  f"{load.master_host} --master-port {load.master_port}", highlight=False)
    return run_scenario(scenario, Path(args.out), target_file=args.target, console=err,
                        keep_cluster=args.keep_cluster)


def cmd_avalanche(args: argparse.Namespace) -> int:
    from imload.avalanche.drill import run_avalanche
    from imload.client.backoff import POLICIES
    from imload.scenario import ScenarioError, load_scenario, rescale
    err = make_console(stderr=True)
    policies = [p.strip() for p in args.policies.split(",") if p.strip()]
    unknown = [p for p in policies if p not in POLICIES]
    if not policies or unknown:
        err.print(f"imload avalanche: unknown backoff policy {', '.join(unknown) or '(none)'}; "
                  f"known: {', '.join(POLICIES)}", highlight=False)
        return EXIT_ERROR
    try:
        scenario = rescale(load_scenario(args.scenario), args.time_scale, args.users)
        return run_avalanche(scenario, Path(args.out), policies, args.target, err)
    except ScenarioError as e:
        err.print(f"[red]imload avalanche: {escape(str(e))}[/]", highlight=False)
        return EXIT_ERROR


def _with_prometheus(scenario: Scenario, listen: str | None) -> Scenario:
    """The scenario with ``--prometheus`` (when given) over its ``[metrics] prometheus``."""
    if listen is None:
        return scenario
    return replace(scenario, metrics=replace(scenario.metrics, prometheus=listen))


def cmd_capacity(args: argparse.Namespace) -> int:
    from imload.capacity.search import run_capacity
    from imload.scenario import ScenarioError, load_scenario
    err = make_console(stderr=True)
    try:
        scenario = _with_prometheus(load_scenario(args.scenario), args.prometheus)
        return run_capacity(scenario, Path(args.out), args.target, err)
    except ScenarioError as e:
        err.print(f"[red]imload capacity: {escape(str(e))}[/]", highlight=False, soft_wrap=True)
        return EXIT_ERROR


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


def cmd_cluster(args: argparse.Namespace) -> int:
    from imload.cluster.backends import load_cluster, new_cluster
    from imload.cluster.local import ClusterError
    console = make_console()
    err = make_console(stderr=True)
    folder = Path(args.dir)
    try:
        if args.action == "up":
            if args.nodes is not None and args.nodes < 1:
                err.print("[red]imload cluster up: --nodes must be at least 1[/]")
                return EXIT_ERROR
            given = {"nodes": args.nodes, "bug": args.bug, "tls": args.tls or None,
                     "node_args": args.node_arg or None,
                     "smacks": False if args.no_smacks else None, "qos": args.qos}
            options = {k: v for k, v in given.items() if v is not None}
            if args.autosave_interval is not None:  # "default": None, Mosquitto's own
                options["autosave_interval_s"] = (None if args.autosave_interval == "default"
                                                  else args.autosave_interval)
            cluster = new_cluster(args.backend, folder, **options)
            with err.status(f"starting the {args.backend} cluster"):
                cluster.start()
            console.print(f"cluster up: target file {folder / 'target.toml'}")
            console.print(f"stop it with: imload cluster down --dir {folder}")
            return 0
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


def cmd_init(args: argparse.Namespace) -> int:
    from imload.init import main_init
    return main_init(args, sys.stdout, sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_ERROR
    if args.command in ("cluster", "trace") and args.action is None:
        parser.parse_args([args.command, "--help"])
    handlers = {"run": cmd_run, "verify": cmd_verify, "journal": cmd_journal,
                "cluster": cmd_cluster, "avalanche": cmd_avalanche, "capacity": cmd_capacity,
                "compare": cmd_compare, "trace": cmd_trace, "probe": cmd_probe,
                "init": cmd_init}
    return handlers[args.command](args)


if __name__ == "__main__":
    raise SystemExit(main())
