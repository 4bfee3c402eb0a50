"""docs/grafana/imload-dashboard.json: a Grafana dashboard of the exporter's metrics. Its
structure is checked here; tests/test_live_prometheus.py evaluates every query it holds
through a real Prometheus after a real run."""

from __future__ import annotations

import json
import re
from pathlib import Path

from imload.live.prometheus import METRICS

REPO = Path(__file__).resolve().parent.parent
DASHBOARD = REPO / "docs" / "grafana" / "imload-dashboard.json"
DS = {"type": "prometheus", "uid": "${datasource}"}


def dashboard_queries() -> list[tuple[str, str]]:
    """(where, expr) of every panel target and annotation of the dashboard."""
    board = json.loads(DASHBOARD.read_text())
    out = [(f"panel {p['id']} {p['title']!r} {t['refId']}", t["expr"])
           for p in board["panels"] for t in p["targets"]]
    out += [(f"annotation {a['name']!r}", a["expr"]) for a in board["annotations"]["list"]
            if a.get("datasource") == DS]
    return out


def test_dashboard_structure() -> None:
    board = json.loads(DASHBOARD.read_text())
    assert board["schemaVersion"] >= 36 and board["title"] and board["uid"]
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    assert variables["scenario"]["datasource"] == DS
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids)) >= 8
    for p in board["panels"]:
        assert p["type"] in ("timeseries", "stat") and p["title"], p
        grid = p["gridPos"]
        assert all(isinstance(grid[k], int) for k in "hwxy") and grid["x"] + grid["w"] <= 24
        assert p["datasource"] == DS and p["targets"], p["title"]
        refs = [t["refId"] for t in p["targets"]]
        assert len(refs) == len(set(refs))
        for t in p["targets"]:
            assert t["datasource"] == DS and t["expr"].strip(), p["title"]
    faults = [a for a in board["annotations"]["list"] if a.get("name") == "Faults"]
    assert faults and "imload_fault_active" in faults[0]["expr"]
    # every metric a query names is one the exporter exports
    names = {name for name, _, _, _ in METRICS}
    names |= {f"{name}_{s}" for name, kind, _, _ in METRICS if kind == "histogram"
              for s in ("bucket", "sum", "count")}
    for where, expr in dashboard_queries():
        used = set(re.findall(r"\bimload_[a-z_]+", expr))
        assert used and used <= names, f"{where}: {used - names}"
    panels = " ".join(p["title"].lower() for p in board["panels"])
    for words in ("devices connected", "acks", "pushes", "not yet seen", "ack latency",
                  "push latency", "reconnects", "anomalies"):
        assert words in panels
