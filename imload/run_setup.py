"""What ``imload run`` sets up before the load, and its error: the target (a target file, or a
local cluster of any backend started in ``OUT/cluster``), the devices' network namespace
when the drill has packet faults, the Prometheus endpoint, and SIGTERM handled as Ctrl-C so
the same clean-up runs for both. ``RunError`` is why a run could not be made.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from imload.cluster.backends import Cluster
from imload.cluster.local import ClusterError, LocalCluster
from imload.cluster.target import Target, TargetError, load_target
from imload.faults.netns import NetError, PacketNetwork
from imload.faults.toxiproxy import ToxiproxyAPI
from imload.live.prometheus import ExporterError, MetricsExporter, open_exporter
from imload.load_options import new_run_id
from imload.scenario import Scenario


class RunError(RuntimeError):
    """The run could not be made (a part would not start, a fault has no means)."""


@dataclass
class Prepared:
    target: Target
    target_path: Path
    cluster: Cluster | None


def toxiproxy_of(target: Target) -> ToxiproxyAPI | None:
    return ToxiproxyAPI(target.toxiproxy_api) if target.toxiproxy_api else None


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Turn SIGTERM into KeyboardInterrupt so the same clean-up runs for both."""
    def raise_interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt
    try:
        previous = signal.signal(signal.SIGTERM, raise_interrupt)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def prepare_target(scenario: Scenario, out: Path, target_file: str | None,
                   console: Console, host: str | None = None) -> Prepared:
    """The target: a target file, or a local cluster started in ``OUT/cluster`` (listening
    on ``host``, by default loopback)."""
    if target_file or scenario.target != "local":
        path = Path(target_file or scenario.target).resolve()  # Locust runs in OUT
        try:
            return Prepared(load_target(path), path, None)
        except TargetError as e:
            raise RunError(str(e)) from None
    spec = scenario.cluster
    if spec.backend != "reference":
        options: dict[str, Any] = {} if spec.smacks else {"smacks": False}
        if spec.protocol:
            options["protocol"] = spec.protocol
        options.update({k: v for k in ("qos", "autosave_interval_s")  # mosquitto's
                        if (v := getattr(spec, k)) is not None})
        return start_backend(spec.backend, out, console, **options)
    cluster = LocalCluster(out / "cluster", nodes=spec.nodes, bug=spec.bug, tls=spec.tls,
                           node_args=spec.node_args, per_node_args=spec.per_node_args(),
                           profiles=[p.name for p in scenario.profiles],
                           **({"host": host} if host else {}))
    with console.status(f"starting the local cluster ({scenario.cluster.nodes} nodes, Redis, "
                        "Toxiproxy)"):
        try:
            target = cluster.start()
        except ClusterError as e:
            raise RunError(f"the local cluster did not start: {e}") from None
    return Prepared(target, out / "cluster" / "target.toml", cluster)


def start_backend(backend: str, out: Path, console: Console, **options: Any) -> Prepared:
    """Start a cluster of another backend than the reference (imload/cluster/backends) in
    ``OUT/cluster`` with ``options`` (keyword arguments of its class)."""
    from imload.cluster.backends import new_cluster

    with console.status(f"starting the {backend} cluster"):
        try:
            cluster = new_cluster(backend, out / "cluster", **options)
            target = cluster.start()
        except ClusterError as e:
            raise RunError(f"the {backend} cluster did not start: {e}") from None
    return Prepared(target, out / "cluster" / "target.toml", cluster)


def open_network(scenario: Scenario, target_file: str | None,
                 console: Console) -> PacketNetwork | None:
    """The devices' network namespace when the drill has packet faults (``netem``), made
    (and said); None without them. RunError saying why it cannot be made here."""
    if not scenario.has_packet_faults():
        return None
    if target_file or scenario.target != "local" or scenario.cluster.backend != "reference":
        raise RunError("netem faults need target = \"local\" with the reference backend: "
                       "the devices run in a network namespace whose veth reaches the local "
                       "cluster")
    if scenario.load.expect_workers > 0:
        raise RunError("netem faults need the Locust processes on this machine "
                       "(expect_workers = 0): they run in the run's network namespace")
    try:
        network = PacketNetwork(new_run_id()).open()
    except NetError as e:
        raise RunError(f"the devices' network namespace could not be made: {e}") from None
    console.print(f"the devices' network: {network.describe()}", highlight=False)
    return network


def start_exporter(scenario: Scenario, console: Console) -> MetricsExporter | None:
    """The Prometheus endpoint of ``[metrics] prometheus`` (or --prometheus), its URL
    printed; None when off. RunError when it cannot listen there."""
    spec = scenario.metrics
    try:
        exporter = open_exporter(spec.prometheus, scenario.name, spec.linger_s)
    except ExporterError as e:
        raise RunError(str(e)) from None
    if exporter is not None:
        console.print(f"metrics: {exporter.url} (Prometheus; docs/metrics.md)", highlight=False,
                      soft_wrap=True)
    return exporter
