"""The live figures of a run on a Prometheus endpoint (docs/metrics.md).

``imload run`` (and ``imload capacity``) publish each LiveStats snapshot here while the load
runs; a scrape renders the newest one with ``prometheus_client``'s text exposition. The
endpoint is on when the scenario's ``[metrics] prometheus`` (or ``--prometheus``) names
``HOST:PORT``; it binds to loopback unless told otherwise, and closes when the run ends,
after ``[metrics] linger_s`` seconds of serving the final figures.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from typing import Any

from imload.live.stats import LiveStats

DEFAULT_HOST = "127.0.0.1"
MAX_LINGER_S = 600.0

# name (as scraped), type, labels beyond ``scenario``, help: docs/metrics.md lists each
METRICS: tuple[tuple[str, str, tuple[str, ...], str], ...] = (
    ("imload_devices_connected", "gauge", (), "Simulated devices with an open session now."),
    ("imload_pending_sends", "gauge", (), "Sends whose first attempt was seen and that have "
     "no outcome (ack, fail, info) yet."),
    ("imload_acked_unseen", "gauge", (), "Messages acked to their sender that no device "
     "other than the sending one has received yet."),
    ("imload_sends_total", "counter", (), "Sends started (first attempts seen)."),
    ("imload_acks_total", "counter", (), "Sends acked by the server (send_ok)."),
    ("imload_pushes_total", "counter", (), "Messages delivered by push (not by sync)."),
    ("imload_reconnects_total", "counter", (), "Logins of a device after its first."),
    ("imload_anomalies_total", "counter", ("kind",), "Anomalies the streaming pre-check saw "
     "live (order: a (conv, seq) with two mids; duplicated: a cmid stored twice)."),
    ("imload_ack_latency_seconds", "histogram", (), "Send's first attempt to its ack."),
    ("imload_push_latency_seconds", "histogram", (), "Send's first attempt to a push of the "
     "message to a device (pushes up to 60 s after the send)."),
    ("imload_fault_active", "gauge", ("fault", "kind", "target"), "1 while a fault of the "
     "chaos timeline is on, 0 after it stopped."),
)

_HOST = re.compile(r"[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?")


class ExporterError(RuntimeError):
    """The endpoint could not be opened (address taken, not a local address)."""


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT``, ``[IPv6]:PORT`` or a bare ``PORT`` (on 127.0.0.1) as (host, port);
    port 0 picks a free port. ValueError says what is wrong."""
    value = text.strip()
    if value.isdigit():
        host, port = DEFAULT_HOST, value
    elif value.startswith("["):
        host, sep, port = value[1:].partition("]:")
        if not sep or not host or not re.fullmatch(r"[0-9A-Fa-f:.]+", host):
            raise ValueError(f"not [IPv6]:PORT: {text!r}")
    else:
        host, sep, port = value.rpartition(":")
        if not sep or not _HOST.fullmatch(host):
            raise ValueError(f"not HOST:PORT (e.g. 127.0.0.1:9464, port 0 for a free one): "
                             f"{text!r}")
    if not port.isdigit() or int(port) > 65535:
        raise ValueError(f"the port must be a number from 0 to 65535, got {port!r}")
    return host, int(port)


def families(snapshot: dict[str, Any], scenario: str) -> Iterator[Any]:
    """The metric families of one LiveStats snapshot (the names of ``METRICS``)."""
    from prometheus_client.core import (
        CounterMetricFamily,
        GaugeMetricFamily,
        HistogramMetricFamily,
    )
    from prometheus_client.utils import floatToGoString

    helps = {name: text for name, _, _, text in METRICS}
    for name, key in (("imload_devices_connected", "connected"),
                      ("imload_pending_sends", "pending"),
                      ("imload_acked_unseen", "acked_unseen")):
        gauge = GaugeMetricFamily(name, helps[name], labels=["scenario"])
        gauge.add_metric([scenario], snapshot[key])
        yield gauge
    for name, key in (("imload_sends_total", "sends"), ("imload_acks_total", "acked"),
                      ("imload_pushes_total", "pushes"),
                      ("imload_reconnects_total", "reconnects")):
        counter = CounterMetricFamily(name, helps[name], labels=["scenario"])
        counter.add_metric([scenario], snapshot[key])
        yield counter
    anomalies = CounterMetricFamily("imload_anomalies_total", helps["imload_anomalies_total"],
                                    labels=["scenario", "kind"])
    for kind, n in sorted(snapshot["anomalies"].items()):
        anomalies.add_metric([scenario, kind], n)
    yield anomalies
    for name, key in (("imload_ack_latency_seconds", "ack_hist_ms"),
                      ("imload_push_latency_seconds", "push_hist_ms")):
        hist = snapshot[key]
        buckets = [(floatToGoString(ms / 1000), n) for ms, n in hist["buckets"]]
        family = HistogramMetricFamily(name, helps[name], labels=["scenario"])
        family.add_metric([scenario], [*buckets, ("+Inf", hist["count"])],
                          sum_value=hist["sum_ms"] / 1000)
        yield family
    faults = GaugeMetricFamily("imload_fault_active", helps["imload_fault_active"],
                               labels=["scenario", "fault", "kind", "target"])
    for f in snapshot["faults"]:
        faults.add_metric([scenario, f["fault"], f["kind"], f["target"]], 1 if f["active"] else 0)
    yield faults


class _Collector:
    """A prometheus_client collector reading the exporter's newest snapshot."""

    def __init__(self, exporter: MetricsExporter) -> None:
        self.exporter = exporter

    def collect(self) -> Iterator[Any]:
        return families(self.exporter.snapshot(), self.exporter.scenario)


class MetricsExporter:
    """Serves the newest published snapshot at ``url`` from a daemon thread until closed."""

    def __init__(self, host: str, port: int, scenario: str, linger_s: float = 0.0) -> None:
        from prometheus_client import CollectorRegistry, start_http_server

        self.scenario = scenario
        self.linger_s = linger_s
        self._lock = threading.Lock()
        self._snapshot = LiveStats().snapshot()  # zeros until the first publish
        registry = CollectorRegistry(auto_describe=False)
        registry.register(_Collector(self))  # type: ignore[arg-type]
        try:
            self._server, self._thread = start_http_server(port, host, registry)
        except OSError as e:
            raise ExporterError(f"cannot serve Prometheus metrics on {host}:{port}: "
                                f"{e.strerror or e}") from None
        self.host = host
        self.port: int = self._server.server_port
        self._closed = False

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    def publish(self, snapshot: dict[str, Any]) -> None:
        """Serve ``snapshot`` (a LiveStats snapshot) from now on."""
        with self._lock:
            self._snapshot = snapshot

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return self._snapshot

    def close(self, linger: bool = True) -> None:
        """Stop serving, after ``linger_s`` seconds of the final figures when ``linger``
        (Ctrl-C cuts the linger short). Idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            if linger and self.linger_s > 0:
                time.sleep(self.linger_s)
        except KeyboardInterrupt:
            pass
        finally:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)


def open_exporter(listen: str, scenario: str, linger_s: float = 0.0) -> MetricsExporter | None:
    """The exporter for a ``[metrics] prometheus`` value ("": none). ExporterError when the
    value is malformed or the address cannot be bound."""
    if not listen:
        return None
    try:
        host, port = parse_listen(listen)
    except ValueError as e:
        raise ExporterError(f"prometheus: {e}") from None
    return MetricsExporter(host, port, scenario, linger_s)
