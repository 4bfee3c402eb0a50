"""The probe's limit checks (imload/probe/limits.py): they pass against the reference
cluster's defaults, within their budgets, and fail, with numbers, against a node running
the bug modes that limit per connection and not failed logins."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import own_node

from imload.cluster import LocalCluster
from imload.probe.checks import FAIL, PASS, Probe
from imload.probe.command import run_checks
from imload.probe.limits import LIMIT_CHECKS, REQUESTS

pytestmark = pytest.mark.integration


def test_the_limit_checks_pass_against_the_reference_cluster(cluster: LocalCluster) -> None:
    results = run_checks(Probe(cluster.node_url("n1"), cluster.secret), LIMIT_CHECKS)
    assert [r["check"] for r in results] == [c.name for c in LIMIT_CHECKS]
    failed = [r for r in results if r["status"] != PASS]
    assert not failed, failed
    by_check = {r["check"]: r["evidence"] for r in results}
    assert "rate_limited after" in by_check["abuse.flood_ping"]
    assert "let in" in by_check["abuse.failed_logins"]  # the address is served again


def test_a_node_that_limits_per_connection_fails_each_limit_check(
        cluster: LocalCluster, tmp_path: Path) -> None:
    # a small per-connection bucket: the reconnect check meets it soon (a bug mode's node
    # does not pipeline sends, so they come at the store's fsync pace)
    with own_node(cluster, tmp_path, "--bug", "per-connection-limits,no-login-limit",
                  "--device-burst", "300", "--device-rate", "20") as node:
        results = run_checks(Probe(node.url, cluster.secret), LIMIT_CHECKS)
    by_check = {r["check"]: r for r in results}
    assert {name for name, r in by_check.items() if r["status"] != FAIL} == set(), by_check
    for t, (_, budget, _) in REQUESTS.items():
        assert f"{budget} {t}s" in by_check[f"abuse.flood_{t}"]["evidence"]
    assert "refilled" in by_check["abuse.reconnect_resets_limit"]["evidence"]
    assert "valid login was served" in by_check["abuse.failed_logins"]["evidence"]
