"""imload/live/prometheus.py: the exporter's metric families (pure), its endpoint on a real
socket (linted by promtool), its flag and scenario key, and a real ``imload run`` scraped by
a real Prometheus server that then evaluates every query of docs/grafana/imload-dashboard.json
(its structure: tests/test_docs_grafana.py).
"""

from __future__ import annotations

import math
import re
import shutil
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
import pytest
from process_helpers import imload_in_background, serving
from test_docs_grafana import dashboard_queries

from imload.cli import main
from imload.cluster.processes import free_ports
from imload.live.prometheus import (
    METRICS,
    ExporterError,
    MetricsExporter,
    families,
    open_exporter,
    parse_listen,
)
from imload.live.stats import LiveStats

REPO = Path(__file__).resolve().parent.parent


def find_tool(name: str) -> str | None:
    """A Prometheus binary (the Debian package, installed by scripts/setup.sh)."""
    found = shutil.which(name)
    return found or (f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").is_file() else None)


def needs(name: str) -> str:
    tool = find_tool(name)
    if tool is None:
        pytest.skip(f"{name} not found: run scripts/setup.sh (it installs the Debian package "
                    "prometheus)")
    return tool


def exposition(snapshot: dict[str, Any], scenario: str = "s") -> str:
    """The text a scrape of ``snapshot`` gives (prometheus_client, no I/O)."""
    from prometheus_client import CollectorRegistry, generate_latest

    class Fixed:
        def collect(self) -> Iterator[Any]:
            return families(snapshot, scenario)

    registry = CollectorRegistry(auto_describe=False)
    registry.register(Fixed())  # type: ignore[arg-type]
    return generate_latest(registry).decode()


def busy_snapshot() -> dict[str, Any]:
    stats = LiveStats()
    for ev in [
        {"ev": "connected", "at": 1.0, "user": "a", "device": "d0"},
        {"ev": "connected", "at": 1.0, "user": "b", "device": "d0"},
        {"ev": "send", "at": 2.0, "user": "a", "device": "d0", "cmid": "c1", "attempt": 1},
        {"ev": "send_ok", "at": 2.02, "user": "a", "device": "d0", "cmid": "c1", "mid": "m1",
         "conv": "d:a:b", "seq": 1},
        {"ev": "deliver", "at": 2.3, "user": "b", "device": "d0", "from": "a",
         "from_device": "d0", "cmid": "c1", "mid": "m1", "conv": "d:a:b", "seq": 1,
         "via": "push"},
        {"ev": "fault", "at": 3.0, "action": "start", "kind": "latency", "target": "n1",
         "fault": "f1_latency_n1"},
        {"ev": "fault", "at": 3.0, "action": "start", "kind": "kill", "target": "n2",
         "fault": "f2_kill_n2"},
        {"ev": "fault", "at": 4.0, "action": "stop", "kind": "kill", "target": "n2",
         "fault": "f2_kill_n2"},
    ]:
        stats.feed(ev)
    return stats.snapshot()


# -- pure ------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, want", [
    ("127.0.0.1:9464", ("127.0.0.1", 9464)), ("9464", ("127.0.0.1", 9464)),
    ("0.0.0.0:0", ("0.0.0.0", 0)), ("localhost:80", ("localhost", 80)),
    ("[::1]:9464", ("::1", 9464)),
])
def test_listen_values(text: str, want: tuple[str, int]) -> None:
    assert parse_listen(text) == want


@pytest.mark.parametrize("text, words", [
    ("", "not HOST:PORT"), ("localhost", "not HOST:PORT"), (":9464", "not HOST:PORT"),
    ("127.0.0.1:", "port must be a number"), ("127.0.0.1:70000", "port must be a number"),
    ("a b:1", "not HOST:PORT"), ("[::1]9464", "not [IPv6]:PORT"),
])
def test_bad_listen_values_say_what_is_wrong(text: str, words: str) -> None:
    with pytest.raises(ValueError, match=re.escape(words)):
        parse_listen(text)


def test_families_give_every_figure_in_base_units() -> None:
    text = exposition(busy_snapshot(), "drill")
    assert 'imload_devices_connected{scenario="drill"} 2.0' in text
    assert 'imload_sends_total{scenario="drill"} 1.0' in text
    assert 'imload_acks_total{scenario="drill"} 1.0' in text
    assert 'imload_pushes_total{scenario="drill"} 1.0' in text
    assert 'imload_acked_unseen{scenario="drill"} 0.0' in text
    assert 'imload_anomalies_total{kind="order",scenario="drill"} 0.0' in text
    # 20 ms to the ack: in the 25 ms bucket, not the 10 ms one; seconds, as Prometheus wants
    assert 'imload_ack_latency_seconds_bucket{le="0.01",scenario="drill"} 0.0' in text
    assert 'imload_ack_latency_seconds_bucket{le="0.025",scenario="drill"} 1.0' in text
    assert 'imload_push_latency_seconds_bucket{le="0.5",scenario="drill"} 1.0' in text
    assert 'imload_push_latency_seconds_bucket{le="+Inf",scenario="drill"} 1.0' in text
    assert re.search(r'imload_push_latency_seconds_sum\{scenario="drill"\} 0\.3\d*', text)
    assert ('imload_fault_active{fault="f1_latency_n1",kind="latency",scenario="drill",'
            'target="n1"} 1.0') in text
    assert ('imload_fault_active{fault="f2_kill_n2",kind="kill",scenario="drill",'
            'target="n2"} 0.0') in text


def test_every_metric_is_exported_and_documented() -> None:
    text = exposition(busy_snapshot())
    exported = set(re.findall(r"^# TYPE (\S+) (\S+)", text, re.M))
    declared = {(name, kind) for name, kind, _, _ in METRICS}
    assert exported == declared
    doc = (REPO / "docs" / "metrics.md").read_text()
    for name, kind, labels, _ in METRICS:
        row = next((line for line in doc.splitlines() if line.startswith(f"| `{name}`")), "")
        assert kind in row and all(f"`{label}`" in row for label in labels), name


# -- the endpoint on real sockets ------------------------------------------------------------

def scrape(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=5) as r:
        return bytes(r.read())


def refused(url: str) -> bool:
    try:
        scrape(url)
    except urllib.error.URLError as e:
        return isinstance(e.reason, ConnectionRefusedError)
    return False


def test_endpoint_on_a_free_port_passes_promtool_then_closes() -> None:
    promtool = needs("promtool")
    exporter = open_exporter("127.0.0.1:0", "drill", linger_s=0.5)
    assert exporter is not None and exporter.port > 0
    try:
        assert b"imload_devices_connected{scenario=\"drill\"} 0.0" in scrape(exporter.url)
        exporter.publish(busy_snapshot())
        body = scrape(exporter.url)
        assert b"imload_devices_connected{scenario=\"drill\"} 2.0" in body
        lint = subprocess.run([promtool, "check", "metrics"], input=body, capture_output=True,
                              timeout=30)
        assert lint.returncode == 0 and not lint.stdout and not lint.stderr, lint
        with pytest.raises(ExporterError, match=f"127.0.0.1:{exporter.port}: Address"):
            MetricsExporter("127.0.0.1", exporter.port, "other")
        closing = threading.Thread(target=exporter.close)
        started = time.monotonic()
        closing.start()
        assert b"imload_acks_total" in scrape(exporter.url)  # the linger: still served
        closing.join(timeout=10)
        assert time.monotonic() - started >= 0.5
    finally:
        exporter.close(linger=False)
    assert refused(exporter.url)
    assert open_exporter("", "drill") is None


def one_error_line(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    """Run ``imload ARGS`` (its main, in this process): exit 2 and one line on stderr."""
    try:
        code = main(list(args))
    except SystemExit as e:  # argparse's usage errors
        code = e.code  # type: ignore[assignment]
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err, err
    lines = [line for line in err.splitlines() if not line.startswith(("usage:", " "))]
    assert len(lines) == 1, err
    return lines[0]


def test_bad_flag_and_bad_scenario_key_give_one_line(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    out = str(tmp_path / "out")
    line = one_error_line(capsys, "run", str(REPO / "chaos" / "default.toml"), "--out", out,
                          "--prometheus", "127.0.0.1:x")
    assert "--prometheus" in line and "port must be a number" in line
    bad = tmp_path / "bad.toml"
    bad.write_text('[metrics]\nprometheus = "localhost"\n')
    line = one_error_line(capsys, "run", str(bad), "--out", out)
    assert "metrics.prometheus" in line and "'localhost'" in line
    bad.write_text('[metrics]\nprometheus = "127.0.0.1:0"\nlinger_s = 9999\n')
    assert "metrics.linger_s" in one_error_line(capsys, "capacity", str(bad), "--out", out)
    # a valid address that is not this machine's: refused before anything starts
    bad.write_text('[metrics]\nprometheus = "192.0.2.1:0"\n')
    line = one_error_line(capsys, "run", str(bad), "--out", out)
    assert "cannot serve Prometheus metrics on 192.0.2.1:0" in line
    assert not (tmp_path / "out" / "cluster").exists()


# -- a real run, scraped by a real Prometheus ------------------------------------------------

DRILL = """
name = "promdrill"
target = "{target}"
seed = 7
[load]
users = 8
spawn_rate = 8
duration_s = 6
msg_interval_s = 0.1
[audit]
quiet_s = 1
timeout_s = 60
[metrics]
prometheus = "192.0.2.1:9"  # not this machine's: the run works because the flag overrides it
linger_s = 2                # the final figures stay up for two more scrapes
[[chaos]]
kind = "latency"
target = "n1"
at_s = 1
for_s = 3
latency = 100
"""

PROMETHEUS_CONFIG = """
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: imload
    static_configs:
      - targets: ["{endpoint}"]
"""


@contextmanager
def prometheus_server(folder: Path, port: int, endpoint: str) -> Iterator[str]:
    """A Prometheus server on 127.0.0.1:``port`` scraping ``endpoint`` every second, from a
    private config and storage in ``folder``; its API's base URL once it scrapes (its first
    scrape comes about 6 s after it starts). Stopped at exit."""
    binary = needs("prometheus")
    (folder / "prometheus.yml").write_text(PROMETHEUS_CONFIG.format(endpoint=endpoint))
    argv = [binary, f"--config.file={folder / 'prometheus.yml'}",
            f"--storage.tsdb.path={folder / 'data'}", f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn"]
    base = f"http://127.0.0.1:{port}"
    with serving(argv, folder / "prometheus.log", lambda: scraping(base),
                 "Prometheus (scraping once)", timeout_s=60):
        yield base


def scraping(base: str) -> bool:
    """Prometheus is up and has tried its target once (down until the run listens)."""
    try:
        targets = orjson.loads(scrape(f"{base}/api/v1/targets"))["data"]["activeTargets"]
    except (urllib.error.URLError, ConnectionError):
        return False
    return any(t["health"] != "unknown" for t in targets)


def api(base: str, path: str, **params: Any) -> list[dict[str, Any]]:
    """The ``data.result`` of a Prometheus API query; the error when it is not a success."""
    url = f"{base}/api/v1/{path}?{urllib.parse.urlencode(params)}"
    try:
        body = orjson.loads(scrape(url))
    except urllib.error.HTTPError as e:
        raise AssertionError(f"{params.get('query')}: {e.read().decode()}") from None
    assert body["status"] == "success", body
    return body["data"]["result"]  # type: ignore[no-any-return]


def value_of(base: str, query: str, at: float) -> float:
    result = api(base, "query", query=query, time=f"{at:.3f}")
    assert len(result) == 1, (query, result)
    return float(result[0]["value"][1])


def wait_for(what: str, check: Any, timeout: float, proc: subprocess.Popen[str],
             lines: list[str]) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        assert proc.poll() is None or what == "exit", f"the run ended before {what}: {lines}"
        assert time.monotonic() < deadline, f"no {what} within {timeout} s: {lines}"
        time.sleep(0.1)


@pytest.mark.integration
def test_a_run_scraped_by_prometheus_fills_every_dashboard_query(tmp_path: Path,
                                                                  cluster: Any) -> None:
    """One short run against the session's cluster (the flag overriding the scenario's key),
    scraped every second by a real Prometheus: a scrape during the fault passes promtool,
    Prometheus reads the figures back, the endpoint closes with the run, and every query of
    the dashboard returns data."""
    promtool = needs("promtool")
    needs("prometheus")
    drill = tmp_path / "promdrill.toml"
    drill.write_text(DRILL.format(target=cluster.target_path))
    out = tmp_path / "out"
    port, exporter_port = free_ports("127.0.0.1", 2)
    endpoint = f"127.0.0.1:{exporter_port}"
    started = time.time()
    with prometheus_server(tmp_path, port, endpoint) as base, \
            imload_in_background([str(drill), "--prometheus", endpoint], out) as (proc, lines):
        url = wait_for("metrics line", lambda: next(
            (m.group(1) for m in map(re.compile(r"^metrics: (http://\S+/metrics)").match, lines)
             if m), None), 60, proc, lines)
        assert url == f"http://{endpoint}/metrics"
        # while the latency fault is on: the endpoint says so, and passes the linter
        fault_on = re.compile(rb'imload_fault_active\{[^}]*kind="latency"[^}]*\} 1\.0')
        body = wait_for("active fault", lambda: (lambda b: b if fault_on.search(b) else None)(
            scrape(url)), 30, proc, lines)
        lint = subprocess.run([promtool, "check", "metrics"], input=body, capture_output=True,
                              timeout=30)
        assert lint.returncode == 0 and not lint.stdout and not lint.stderr, lint
        assert proc.wait(timeout=120) == 0, "".join(lines)
        ended = time.time()
        assert refused(url)  # nothing left behind: the endpoint closed with the run
        verdict = orjson.loads((out / "verdict.json").read_bytes())
        check_figures(base, ended, verdict)
        check_dashboard_queries(base, started, ended)


def check_figures(base: str, at: float, verdict: dict[str, Any]) -> None:
    """What Prometheus scraped over the run, read back through its HTTP API."""
    def most(metric: str, labels: str = 'scenario="promdrill",job="imload"') -> float:
        return value_of(base, f"max_over_time({metric}{{{labels}}}[5m])", at)
    assert most("imload_devices_connected") >= 4  # 8 users spawned at 8/s
    assert most("imload_acks_total") == verdict["counts"]["acked"] > 0  # the final figures
    assert most("imload_sends_total") >= most("imload_acks_total")
    assert most("imload_pushes_total") > 0
    assert most("imload_ack_latency_seconds_count") == most("imload_acks_total")
    assert most("imload_push_latency_seconds_count") > 0
    fault = 'scenario="promdrill",kind="latency",target="n1"'
    assert most("imload_fault_active", fault) == 1
    assert value_of(base, f"min_over_time(imload_fault_active{{{fault}}}[5m])", at) == 0


def check_dashboard_queries(base: str, start: float, end: float) -> None:
    """Every panel and annotation query, its Grafana variables filled in, gives at least one
    finite value over the run (as Grafana asks Prometheus: a range query)."""
    fill = {"$__rate_interval": "1m", "$__interval": "1s", "$__range": "5m",
            "$scenario": "promdrill"}
    for where, expr in dashboard_queries():
        for var, value in fill.items():
            expr = expr.replace(var, value)
        assert "$" not in expr, f"{where}: a variable left in {expr}"
        result = api(base, "query_range", query=expr, start=f"{start:.3f}", end=f"{end:.3f}",
                     step="1")
        values = [float(v) for series in result for _, v in series["values"]]
        assert any(math.isfinite(v) for v in values), f"{where}: no data for {expr}"
