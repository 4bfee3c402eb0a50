"""``imload run``: cluster (or target) → Locust → chaos timeline → heal → audit → check.

Every process the run starts is stopped when it ends, on Ctrl-C and on failure
too: Locust is terminated, faults are healed, and a local cluster is stopped.
"""

from __future__ import annotations

import math
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from contextlib import suppress
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn

from imload.audit import AUDIT_FIELDS, AUDIT_KINDS, devices_to_audit, run_audit
from imload.client.e2e import directory
from imload.cluster.local import ClusterError
from imload.console import make_console
from imload.faults.netns import PacketNetwork, ports_of
from imload.faults.registry import FaultContext, missing_means
from imload.faults.timeline import Timeline
from imload.faults.toxiproxy import ToxiproxyError
from imload.journal import JournalError, JournalWriter, event
from imload.journal.reader import unordered_events
from imload.judge import judge as judge_run
from imload.judge import suite_name, write_outputs
from imload.live.panel import LiveView, render_panel
from imload.live.prometheus import MetricsExporter
from imload.live.stats import LiveStats
from imload.live.tail import JournalTail
from imload.load_options import locust_args, new_run_id
from imload.report.console import render_verdict
from imload.run_setup import (
    Prepared,
    RunError,
    open_network,
    prepare_target,
    sigterm_as_interrupt,
    start_exporter,
    toxiproxy_of,
)
from imload.scenario import Scenario
from imload.slo import EXIT_ERROR, exit_code

REPO = Path(__file__).resolve().parent.parent


def locustfile_path(name: str) -> Path:
    """A locustfile by path, or by name from the repository's locustfiles/ folder."""
    p = Path(name)
    for candidate in (p, REPO / "locustfiles" / f"{name}.py", REPO / "locustfiles" / name):
        if candidate.is_file():
            return candidate.resolve()
    raise RunError(f"no locustfile {name!r} (looked for it as a path and in "
                   f"{REPO / 'locustfiles'})")


def locust_command(scenario: Scenario, target_path: Path, journal: Path,
                   run_id: str, extra: Sequence[str] = (),
                   network: PacketNetwork | None = None) -> list[str]:
    """Locust's command line for the scenario: Locust's own flags for the [load] keys it
    takes, then the ``--imload-*`` ones (``imload/load_options.py``'s table); inside the
    devices' network namespace when there is one."""
    load = scenario.load
    cmd = [*(network.exec_prefix() if network else []),
           sys.executable, "-m", "locust", "-f", str(locustfile_path(load.locustfile)),
           "--headless", "-u", str(load.users), "-r", str(load.spawn_rate),
           # Locust takes whole seconds (a --time-scale can make 22.5)
           "-t", f"{max(1, math.ceil(load.duration_s))}s", "--stop-timeout", "15",
           "--only-summary",
           "--loglevel", "WARNING"]
    if load.expect_workers > 0:  # master here; workers elsewhere (docs/distributed.md)
        cmd += ["--master", "--expect-workers", str(load.expect_workers),
                "--expect-workers-max-wait", "120", "--master-bind-host", load.master_host,
                "--master-bind-port", str(load.master_port)]
    elif load.processes > 1:
        cmd += ["--processes", str(load.processes)]
    profiles = ",".join(f"{p.name}={p.share:g}" for p in scenario.profiles)
    cmd += locust_args(load, target=str(target_path), journal=str(journal),
                       seed=scenario.seed, run_id=run_id, profiles=profiles,
                       ship_journal=load.ship_journal or load.expect_workers > 0)
    return cmd + list(extra)


def _stop_process(proc: subprocess.Popen[bytes], grace_s: float = 20.0) -> None:
    if proc.poll() is not None:
        return
    with suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(grace_s)
    except subprocess.TimeoutExpired:
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _tail(path: Path, lines: int = 8) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").strip().splitlines()[-lines:])
    except OSError:
        return "(no log)"


StopCheck = Callable[[list[dict[str, Any]]], str | None]


def run_load(scenario: Scenario, prepared: Prepared, out: Path, writer: JournalWriter,
             timeline: Timeline, console: Console, locust_extra: Sequence[str] = (),
             stop_when: StopCheck | None = None,
             exporter: MetricsExporter | None = None,
             network: PacketNetwork | None = None) -> None:
    """Locust for the scenario's duration while the timeline makes its faults.

    The journal is followed as it grows: for the live panel (on a terminal), for the
    Prometheus ``exporter`` (each snapshot, and the final one once Locust stopped) and for
    ``stop_when``, which sees each batch of new events and may end the load early by
    returning the reason.
    """
    journal = out / "journal"
    cmd = locust_command(scenario, prepared.target_path, journal, new_run_id(), locust_extra,
                         network)
    log = out / "locust.log"
    duration = scenario.load.duration_s
    tail, stats = JournalTail(journal), LiveStats()
    with open(log, "wb") as logf:
        proc = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT, cwd=out,
                                start_new_session=True)
        t0 = time.monotonic()
        writer.write(event("phase", t0, phase="load", action="start"))
        timeline.start(t0)
        try:
            with LiveView(console) as view:
                limit = duration + 90 + (120 if scenario.load.expect_workers else 0)
                while proc.poll() is None:
                    elapsed = time.monotonic() - t0
                    if elapsed > limit:
                        raise RunError(f"Locust did not stop {limit:.0f} s after it started; "
                                       f"see {log}")
                    new = tail.poll()
                    for ev in new:
                        stats.feed(ev)
                    reason = stop_when(new) if stop_when is not None and new else None
                    if reason:
                        console.print(f"stopping the load early: {escape(reason)}")
                        break
                    snapshot = stats.snapshot()
                    if exporter is not None:
                        exporter.publish(snapshot)
                    view.update(render_panel(snapshot, elapsed, duration, timeline.active))
                    time.sleep(0.5)
        finally:
            _stop_process(proc)
            writer.write(event("phase", time.monotonic(), phase="load", action="end"))
    if exporter is not None:  # what Locust wrote as it stopped: the final figures
        for ev in tail.poll():
            stats.feed(ev)
        exporter.publish(stats.snapshot())
    if not any(journal.glob("locust-*")):
        raise RunError(f"Locust wrote no journal (exit {proc.returncode}); its log ends:\n"
                       + _tail(log))


def heal(prepared: Prepared, timeline: Timeline, writer: JournalWriter) -> None:
    writer.write(event("phase", time.monotonic(), phase="heal", action="start"))
    timeline.heal()
    if prepared.cluster is not None:
        for name, part in prepared.cluster.status().items():
            if part.get("kind") in ("node", "redis") and not part.get("alive"):
                with suppress(ClusterError):
                    prepared.cluster.restart_part(name)
    writer.write(event("phase", time.monotonic(), phase="heal", action="end"))


def audit(scenario: Scenario, prepared: Prepared, out: Path, writer: JournalWriter,
          console: Console) -> list[str]:
    time.sleep(scenario.audit.quiet_s)
    writer.flush()
    held = devices_to_audit(unordered_events(out / "journal", AUDIT_KINDS, AUDIT_FIELDS))
    writer.write(event("phase", time.monotonic(), phase="audit", action="start"))
    with Progress(TextColumn("[bold]audit[/]"), BarColumn(), TextColumn("{task.completed}/"
                  "{task.total} devices"), console=console, transient=True) as bar:
        task = bar.add_task("audit", total=len(held))
        result = run_audit(held, [n.url for n in prepared.target.nodes],
                           prepared.target.secret, writer.write,
                           timeout_s=scenario.audit.timeout_s,
                           progress=lambda n: bar.advance(task, n),
                           protocol=prepared.target.protocol,
                           options=prepared.target.protocol_options,
                           ca=str(prepared.target.ca) if prepared.target.ca else None,
                           keys=directory(scenario.seed) if scenario.load.e2e else None)
    writer.write(event("phase", time.monotonic(), phase="audit", action="end"))
    return result.failed


def judge(out: Path, scenario: Scenario, run: dict[str, Any],
          duration_s: float | None = None) -> dict[str, Any]:
    """Check the journal (the checker ``auto`` picks: the DuckDB one for a big journal), with
    the run's fields and the SLOs; write verdict.json, junit.xml and report.html
    (``imload.judge``, as ``imload verify`` does)."""
    try:
        judged = judge_run([out / "journal"], scenario.slos, run=run)
    except JournalError as e:
        raise RunError(f"cannot judge the journal: {e}") from None
    write_outputs(out, judged, suite_name(scenario.name), duration_s)
    return judged.verdict


def run_scenario(scenario: Scenario, out: Path, target_file: str | None = None,
                 console: Console | None = None, keep_cluster: bool = False,
                 locust_extra: Sequence[str] = (), stop_when: StopCheck | None = None) -> int:
    """Run a scenario into ``out``; return the exit code (``imload.slo.EXIT_CODES``: 0 passed,
    1 failed, 2 not run, 3 unknown: not everything could be judged)."""
    console = console or make_console(stderr=True)
    out = out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with suppress(OSError):  # the drill as run, for `imload verify` and for people
        shutil.copyfile(scenario.path, out / "scenario.toml")
    prepared: Prepared | None = None
    timeline: Timeline | None = None
    exporter: MetricsExporter | None = None
    network: PacketNetwork | None = None
    writer = JournalWriter(out / "journal", "run", flush_every=1)
    try:
        with sigterm_as_interrupt():
            exporter = start_exporter(scenario, console)
            network = open_network(scenario, target_file, console)
            prepared = prepare_target(scenario, out, target_file, console,
                                      network.host_ip if network else None)
            try:
                tox = toxiproxy_of(prepared.target)
            except ToxiproxyError as e:
                raise RunError(str(e)) from None
            ctx = FaultContext(nodes=prepared.target.fault_targets(), toxiproxy=tox,
                               network=network)
            if network is not None:
                network.ports = ports_of(ctx.nodes)
            plan = scenario.fault_plan([n.name for n in prepared.target.nodes])
            reasons = list(dict.fromkeys(r for r in (missing_means(s, ctx) for s in plan) if r))
            if reasons:
                raise RunError("this target cannot make the drill's faults:\n  "
                               + "\n  ".join(reasons))
            promises = prepared.target.promises
            writer.write(event("declare", time.monotonic(),
                               numbering=dict(prepared.target.numbering),
                               group_membership=prepared.target.group_membership,
                               **({} if promises is None else {"promises": promises})))
            timeline = Timeline(plan, ctx, writer.write)
            run_load(scenario, prepared, out, writer, timeline, console, locust_extra,
                     stop_when, exporter, network)
            heal(prepared, timeline, writer)
            audit_failed = audit(scenario, prepared, out, writer, console)
            writer.close()
            errors = [*timeline.errors, *(f"audit: {f}" for f in audit_failed)]
            verdict = judge(out, scenario, {
                "scenario": scenario.name, "target": prepared.target.name,
                "errors": errors,
                "fault_lateness_ms": {"max": round(max(timeline.lateness_s, default=0) * 1000,
                                                   1), "count": len(timeline.lateness_s)},
            }, duration_s=time.monotonic() - started)
            render_verdict(verdict, make_console(), str(out))
            if errors:
                for e in errors[:10]:
                    console.print(f"[red]error:[/] {escape(str(e))}")
                return EXIT_ERROR
            return exit_code(verdict)
    except RunError as e:
        console.print(f"[red]imload run: {escape(str(e))}[/]", highlight=False, soft_wrap=True)
        return EXIT_ERROR
    except KeyboardInterrupt:
        console.print("[yellow]interrupted: healing faults and stopping what the run started[/]")
        if exporter is not None:
            exporter.close(linger=False)
        return EXIT_ERROR
    finally:
        if timeline is not None:
            timeline.heal()
        if network is not None:
            console.print(network.keep_counters(out / "network.json"), highlight=False)
            for e in network.close():
                console.print(f"[red]error:[/] could not remove {escape(e)}")
        writer.close()
        if prepared is not None and prepared.cluster is not None and not keep_cluster:
            prepared.cluster.stop()
        if exporter is not None:  # the final figures stay up [metrics] linger_s, then close
            exporter.close()
