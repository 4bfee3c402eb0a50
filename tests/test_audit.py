"""The audit against a real cluster: every device syncs from what it holds to the end."""

from __future__ import annotations

import time
from typing import Any

import pytest
from conftest import Connect, unique

from imload.audit import devices_to_audit, run_audit
from imload.cluster import LocalCluster
from imload.journal import event
from imload.protocol import direct_conv

pytestmark = pytest.mark.integration


def test_devices_to_audit_takes_the_contiguous_prefix() -> None:
    evs = [event("device", 0, user="a", device="d0"), event("device", 0, user="b", device="d0")]
    for useq in (1, 2, 4):
        evs.append({"ev": "deliver", "at": 1, "user": "a", "device": "d0", "useq": useq})
    assert devices_to_audit(evs) == {("a", "d0"): 2, ("b", "d0"): 0}


def test_audit_delivers_what_a_device_missed(cluster: LocalCluster, open_client: Connect) -> None:
    a, b = unique("a"), unique("b")
    sender = open_client(a, "d0")
    conv = direct_conv(a, b)
    for i in range(3):
        assert sender.request("send", cmid=f"c{i}", conv=conv, body=f"hi {i}")["t"] == "send_ack"
    # b's device held useq 1 already; the audit must bring 2 and 3, and a's device all three
    journal = [event("device", 0, user=a, device="d0"), event("device", 0, user=b, device="d0"),
               {"ev": "deliver", "at": 0, "user": b, "device": "d0", "useq": 1}]
    recorded: list[dict[str, Any]] = []
    result = run_audit(journal, [cluster.node_url("n2")], cluster.secret, recorded.append,
                       timeout_s=20)
    assert result.failed == [] and result.synced == 2
    got = {(e["user"], e["useq"]) for e in recorded if e["ev"] == "deliver"}
    assert got == {(a, 1), (a, 2), (a, 3), (b, 2), (b, 3)}
    assert all(e["phase"] == "audit" and e["via"] == "sync" for e in recorded
               if e["ev"] == "deliver")
    assert [e["action"] for e in recorded if e["ev"] == "audit"].count("done") == 2


def test_audit_of_an_unreachable_node_fails_within_its_bound() -> None:
    journal = [event("device", 0, user="x", device="d0")]
    started = time.monotonic()
    result = run_audit(journal, ["ws://127.0.0.1:9/ws"], "s" * 32, lambda e: None,
                       timeout_s=1.5)
    assert result.synced == 0 and result.failed[0].startswith("x/d0: ws://127.0.0.1:9/ws")
    assert time.monotonic() - started < 15
