"""The probe's group checks (imload/probe/groups.py): every one passes against the
reference cluster, and fails, with its evidence, against a node running the bug modes
open-groups (no consent, owner or size rule) and no-fanout-limit."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import own_node

from imload.cluster import LocalCluster
from imload.probe.checks import FAIL, PASS, Probe
from imload.probe.command import run_checks
from imload.probe.groups import FANOUT_BUDGET, FANOUT_MEMBERS, GROUP_CHECKS, GROUP_SIZE

pytestmark = pytest.mark.integration

# the bug mode that breaks each check
BROKEN_BY = {"authz.add_strangers": "open-groups", "authz.remove_owner": "open-groups",
             "abuse.group_size": "open-groups", "abuse.fanout": "no-fanout-limit"}


def test_the_group_checks_pass_against_the_reference_cluster(cluster: LocalCluster) -> None:
    results = run_checks(Probe(cluster.node_url("n1"), cluster.secret), GROUP_CHECKS)
    assert [r["check"] for r in results] == list(BROKEN_BY)
    assert all(r["status"] == PASS for r in results), results
    by_check = {r["check"]: r["evidence"] for r in results}
    assert "forbidden" in by_check["authz.add_strangers"]
    assert "only the owner" in by_check["authz.remove_owner"]
    assert "as an admin, removing" in by_check["authz.remove_owner"]
    assert "may not remove its owner" in by_check["authz.remove_owner"]
    assert "over the limit of 500" in by_check["abuse.group_size"]
    assert "rate_limited" in by_check["abuse.fanout"] and "fan-out" in by_check["abuse.fanout"]


def test_each_group_check_fails_against_the_mode_that_breaks_it(cluster: LocalCluster,
                                                                tmp_path: Path) -> None:
    with own_node(cluster, tmp_path, "--bug", "open-groups,no-fanout-limit") as node:
        results = run_checks(Probe(node.url, cluster.secret), GROUP_CHECKS)
    by_check = {r["check"]: r for r in results}
    assert {name: r["status"] for name, r in by_check.items()} == dict.fromkeys(BROKEN_BY,
                                                                               FAIL)
    evidence = {name: r["evidence"] for name, r in by_check.items()}
    assert "never agreed, is now in" in evidence["authz.add_strangers"]
    assert "removed" in evidence["authz.remove_owner"]
    assert f"of {GROUP_SIZE} members" in evidence["abuse.group_size"]
    assert f"{FANOUT_BUDGET * FANOUT_MEMBERS:,} inbox writes" in evidence["abuse.fanout"]


def test_each_mode_breaks_only_its_own_checks(cluster: LocalCluster, tmp_path: Path) -> None:
    """open-groups alone leaves the fan-out budget on; the budget is what refuses."""
    fanout = next(c for c in GROUP_CHECKS if c.name == "abuse.fanout")
    with own_node(cluster, tmp_path, "--bug", "open-groups") as node:
        (result,) = run_checks(Probe(node.url, cluster.secret), (fanout,))
    assert result["status"] == PASS and "fan-out budget" in result["evidence"]
