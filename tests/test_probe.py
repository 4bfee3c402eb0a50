"""imload probe (imload/probe/): every check passes against the reference cluster, and the
checks a vulnerable node breaks fail against it, each with its evidence."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import own_node

from imload.cli import main
from imload.cluster import LocalCluster
from imload.probe.catalogue import CATALOGUE
from imload.probe.checks import CHECKS, FAIL, NA, PASS, Probe
from imload.probe.command import exit_code, junit, run_checks

pytestmark = pytest.mark.integration

# the bug modes of a deliberately vulnerable node, and the checks of the five families of
# checks.py each one breaks (the other checks fail against the vulnerable test server:
# test_probe_failable.py; the group and limit checks have their own files: test_probe_groups.py,
# test_probe_limits.py)
VULNERABLE = {
    "alg-none": {"auth.alg_none"},
    "no-signature-check": {"auth.other_secret", "auth.alg_none"},
    "skip-expiry": {"auth.expired"},
    "any-audience": {"auth.wrong_audience"},
    "frame-user": {"auth.impersonation", "authz.foreign_sync", "authz.others_markers",
                   "authz.others_state"},
    "open-conversations": {"authz.foreign_send", "authz.foreign_read"},
    "sequential-mids": {"leaks.sequential_mids"},
    "server-header": {"leaks.server_header"},
    "unbounded-sync": {"abuse.sync_bytes"},
    "no-login-deadline": {"abuse.login_deadline"},
    "unbounded-outbound": {"abuse.slow_reader"},
    "no-takeover": {"abuse.takeover_storm"},
}
BROKEN = set().union(*VULNERABLE.values())


def test_every_check_passes_against_the_reference_cluster(cluster: LocalCluster,
                                                          tmp_path: Path) -> None:
    out = tmp_path / "probe"
    code = main(["probe", str(cluster.target_path), "--out", str(out), "--slow-s", "15"])
    report = json.loads((out / "probe.json").read_text())
    failed = [r for r in report["results"] if r["status"] != PASS]
    assert code == 0 and not failed, failed
    assert [r["check"] for r in report["results"]] == [c.name for c in CATALOGUE]
    assert "<testsuite" in (out / "junit.xml").read_text()


def test_a_vulnerable_node_fails_the_checks_its_bugs_break(cluster: LocalCluster,
                                                           tmp_path: Path) -> None:
    with own_node(cluster, tmp_path, "--bug", ",".join(VULNERABLE),
                  "--login-timeout-s", "1") as node:
        results = run_checks(Probe(node.url, cluster.secret, slow_s=3.0), CHECKS)
    by_check = {r["check"]: r for r in results}
    for bug, checks in VULNERABLE.items():
        for check in checks:
            assert by_check[check]["status"] == FAIL, (bug, by_check[check])
            assert by_check[check]["evidence"]
    others = [r for r in results if r["check"] not in BROKEN]
    assert all(r["status"] == PASS for r in others), others
    assert exit_code(results) == 1
    tree = junit(results, "vulnerable")
    assert tree.getroot().get("failures") == str(len(BROKEN))


def test_exit_codes_and_bad_targets(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert exit_code([{"status": PASS}]) == 0
    assert exit_code([{"status": PASS}, {"status": NA}]) == 3
    assert exit_code([{"status": NA}, {"status": FAIL}]) == 1
    assert main(["probe", str(tmp_path / "missing.toml")]) == 2
    xmpp = tmp_path / "x.toml"
    xmpp.write_text('name = "x"\nsecret = "s"\nprotocol = "xmpp"\n'
                    '[[nodes]]\nname = "n1"\nurl = "ws://127.0.0.1:9/ws"\n')
    assert main(["probe", str(xmpp)]) == 2
    assert "protocol v1 only" in capsys.readouterr().err


def test_a_target_that_is_not_there_makes_every_check_not_tried() -> None:
    results = run_checks(Probe("ws://127.0.0.1:9/ws", "s" * 32, slow_s=1.0))
    assert {r["status"] for r in results} == {NA}
    assert exit_code(results) == 3
