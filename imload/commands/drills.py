"""``imload run``, ``imload avalanche``, ``imload capacity``: the drills that make load."""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from rich.markup import escape

from imload.commands.args import EXIT_CODES_HELP, SubParsers, listen, positive_float, positive_int
from imload.console import make_console
from imload.slo import EXIT_ERROR

if TYPE_CHECKING:
    from imload.scenario import Scenario


def add_run(sub: SubParsers) -> None:
    run = sub.add_parser("run", help="run a scenario: load + chaos + audit + check",
                         epilog=EXIT_CODES_HELP)
    run.add_argument("scenario", help="scenario TOML file (see chaos/)")
    run.add_argument("--out", required=True, help="run folder for the journal and verdict")
    run.add_argument("--target", help="target TOML file; overrides the scenario's target")
    run.add_argument("--time-scale", type=positive_float, default=1.0, metavar="F",
                     help="multiply the load's duration and every fault time by F "
                          "(0.25: a quarter-length drill)")
    run.add_argument("--users", type=positive_int, metavar="N",
                     help="run N simulated devices instead of the scenario's load.users")
    run.add_argument("--workers", type=positive_int, metavar="N",
                     help="Locust processes on this machine (overrides load.processes)")
    run.add_argument("--expect-workers", type=positive_int, metavar="N",
                     help="run Locust as a master and wait for N workers started elsewhere "
                          "(docs/distributed.md)")
    run.add_argument("--master-host", metavar="ADDR",
                     help="address the master listens on for workers (default 127.0.0.1)")
    run.add_argument("--master-port", type=positive_int, metavar="PORT",
                     help="port the master listens on for workers (default 5557)")
    run.add_argument("--keep-cluster", action="store_true",
                     help="leave a local cluster running after the run (stop it with "
                          "'imload cluster down --dir OUT/cluster')")
    run.add_argument("--prometheus", type=listen, metavar="HOST:PORT",
                     help="serve the live figures for Prometheus on HOST:PORT (port 0: a free "
                          "one); overrides [metrics] prometheus (docs/metrics.md)")


def add_avalanche(sub: SubParsers) -> None:
    aval = sub.add_parser("avalanche", help="run a node-kill drill once per backoff policy and "
                          "compare the reconnect storms")
    aval.add_argument("scenario", help="scenario with a kill fault (chaos/avalanche.toml)")
    aval.add_argument("--out", required=True, help="folder; one run folder per policy inside")
    aval.add_argument("--policies", default="none,exponential,full_jitter,decorrelated",
                      help="comma-separated backoff policies (default: %(default)s)")
    aval.add_argument("--target", help="target TOML file; overrides the scenario's target")
    aval.add_argument("--time-scale", type=positive_float, default=1.0, metavar="F")
    aval.add_argument("--users", type=positive_int, metavar="N")


def add_capacity(sub: SubParsers) -> None:
    cap = sub.add_parser("capacity", help="add users in steps and find the highest step "
                         "within the SLOs (the scenario's [capacity] table)")
    cap.add_argument("scenario", help="scenario TOML with [capacity] steps (chaos/capacity.toml)")
    cap.add_argument("--out", required=True, help="run folder")
    cap.add_argument("--target", help="target TOML file; overrides the scenario's target")
    cap.add_argument("--prometheus", type=listen, metavar="HOST:PORT",
                     help="serve the live figures for Prometheus (docs/metrics.md)")


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
    scenario = with_prometheus(scenario, args.prometheus)
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


def with_prometheus(scenario: Scenario, listen: str | None) -> Scenario:
    """The scenario with ``--prometheus`` (when given) over its ``[metrics] prometheus``."""
    if listen is None:
        return scenario
    return replace(scenario, metrics=replace(scenario.metrics, prometheus=listen))


def cmd_capacity(args: argparse.Namespace) -> int:
    from imload.capacity.search import run_capacity
    from imload.scenario import ScenarioError, load_scenario
    err = make_console(stderr=True)
    try:
        scenario = with_prometheus(load_scenario(args.scenario), args.prometheus)
        return run_capacity(scenario, Path(args.out), args.target, err)
    except ScenarioError as e:
        err.print(f"[red]imload capacity: {escape(str(e))}[/]", highlight=False, soft_wrap=True)
        return EXIT_ERROR
