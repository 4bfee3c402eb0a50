"""The verdict: its shape, valid / passed / unknown, examples, and a property over clean runs."""

from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st
from journal_builder import JournalBuilder, two_friends

from imload.check import CHECKS, check

KINDS = {"lost", "partial", "duplicated", "phantom", "corrupted", "order", "aborted"}


def clean_run() -> JournalBuilder:
    j = two_friends()
    j.fault("start", "f1", kind="latency", target="n1", latency_ms=200)
    j.message("alice", "phone", "bob", "c1")
    j.message("bob", "phone", "alice", "c2")
    j.reconnect("bob", "phone")
    j.deliver("bob", "phone", "bob", "c2", via="sync")  # wire duplicate: allowed
    j.send("alice", "laptop", "c3", "bob")
    j.info("alice", "c3")
    j.deliver_all("alice", "c3")  # recovered
    j.fault("stop", "f1", kind="latency", target="n1")
    j.phase("load", "end")
    j.phase("audit", "start")
    for user, device in (("alice", "phone"), ("alice", "laptop"), ("bob", "phone")):
        j.audit(user, device)
    j.phase("audit", "end")
    return j


def test_a_clean_run_passes_with_every_checked_anomaly_at_zero() -> None:
    v = check(clean_run().events)
    assert v["valid"] is True and v["passed"] is True
    assert set(v["anomalies"]) == KINDS == set(CHECKS)
    assert all(n == 0 for n in v["anomalies"].values())
    assert v["examples"] == {k: [] for k in KINDS}
    c = v["counts"]
    assert (c["acked"], c["info"], c["recovered"], c["wire_duplicates"]) == (2, 1, 1, 1)
    assert c["expected_deliveries"] == 6 and c["delivered"] == 9
    # e2e: every first copy on a member device, the recovered send's 3 included
    assert v["latency_ms"]["ack"]["count"] == 2 and v["latency_ms"]["e2e"]["count"] == 9
    assert [(f["kind"], f["target"]) for f in v["faults"]] == [("latency", "n1")]
    assert v["faults"][0]["until_s"] > v["faults"][0]["at_s"] > 0
    assert set(v["phases"]) == {"load", "audit"}
    assert v["slo"] == []
    assert v["journal"] == {"events": len(clean_run().events), "bad_lines": [],
                            "bad_events": []}


def test_the_verdict_has_the_documented_keys_and_is_json() -> None:
    v = check(clean_run().events, bad_lines=["a.jsonl:3: not JSON"])
    assert set(v) == {"valid", "passed", "counts", "anomalies", "examples", "latency_ms",
                      "faults", "phases", "slo", "journal"}
    assert orjson.loads(orjson.dumps(v)) == v
    assert v["journal"]["bad_lines"] == ["a.jsonl:3: not JSON"]
    assert v["passed"] is True  # torn lines are reported, they do not fail the run


def test_nothing_acked_nor_delivered_is_unknown_and_does_not_pass() -> None:
    for events in ([], two_friends().events):
        v = check(events)
        assert v["valid"] == "unknown" and v["passed"] is False
        assert v["latency_ms"]["e2e"] == {"p50": None, "p90": None, "p99": None, "p999": None,
                                          "max": None, "count": 0}
    j = two_friends()
    j.send("alice", "phone", "c1", "bob")
    j.info("alice", "c1")
    assert check(j.events)["valid"] == "unknown"


def test_any_anomaly_fails_the_verdict_with_examples_capped() -> None:
    j = two_friends()
    for i in range(5):
        j.message("alice", "phone", "bob", f"c{i}", skip=(("bob", "phone"),))
    v = check(j.events, max_examples=2)
    assert v["valid"] is False and v["passed"] is False
    assert v["anomalies"]["lost"] == 5 and len(v["examples"]["lost"]) == 2
    example = v["examples"]["lost"][0]
    assert set(example) == {"explain", "events"} and len(example["events"]) <= 6
    assert "ts" not in example["events"][0]  # trimmed


def _cases(v: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return v["examples"][kind]


def test_each_kind_reaches_the_verdict() -> None:
    j = two_friends()
    j.message("alice", "phone", "bob", "c1", skip=(("bob", "phone"),))  # lost
    j.message("alice", "phone", "bob", "c2", digest="bad0bad0bad0bad0")  # corrupted x3
    j.deliver("bob", "phone", "alice", "ghost", mid="m50", seq=50, via="sync")  # phantom
    j.send("alice", "phone", "c3", "bob")
    j.fail("alice", "c3")
    j.deliver("bob", "phone", "alice", "c3")  # aborted
    v = check(j.events)
    assert {k: n for k, n in v["anomalies"].items() if n} == {
        "lost": 1, "corrupted": 3, "phantom": 1, "aborted": 1}
    assert "c1" in _cases(v, "lost")[0]["explain"]
    assert "ghost" in _cases(v, "phantom")[0]["explain"]


devices_per_user = st.lists(st.integers(min_value=1, max_value=2), min_size=2, max_size=4)


@st.composite
def clean_histories(draw: st.DrawFn) -> JournalBuilder:
    """Random direct chats where every acked message reaches every member device once."""
    counts = draw(devices_per_user)
    users = [f"u{i}" for i in range(len(counts))]
    j = JournalBuilder()
    j.phase("load", "start")
    for user, n in zip(users, counts, strict=True):
        for d in range(n):
            j.device(user, f"d{d}")
    n_msgs = draw(st.integers(min_value=1, max_value=25))
    for i in range(n_msgs):
        a = draw(st.integers(min_value=0, max_value=len(users) - 1))
        b = draw(st.integers(min_value=0, max_value=len(users) - 2))
        b = b + 1 if b >= a else b
        device = f"d{draw(st.integers(min_value=0, max_value=counts[a] - 1))}"
        retries = draw(st.integers(min_value=1, max_value=3))
        for attempt in range(1, retries + 1):
            j.send(users[a], device, f"c{i}", users[b], attempt=attempt)
        j.ack(users[a], f"c{i}")
        via = draw(st.sampled_from(["push", "sync"]))
        j.deliver_all(users[a], f"c{i}", via=via)
        if draw(st.booleans()):  # a wire duplicate after a reconnect
            u = users[draw(st.sampled_from([a, b]))]
            d = f"d{draw(st.integers(min_value=0, max_value=counts[users.index(u)] - 1))}"
            j.reconnect(u, d)
            j.deliver(u, d, users[a], f"c{i}", via="sync")
    return j


def without(events: list[dict[str, Any]], copies: set[tuple[str, str, str]]
            ) -> list[dict[str, Any]]:
    """The journal minus every delivery of the given (user, device, mid)."""
    return [e for e in events
            if e["ev"] != "deliver" or (e["user"], e["device"], e["mid"]) not in copies]


@settings(max_examples=60, deadline=None)
@given(clean_histories(), st.data())
def test_clean_histories_pass_and_one_dropped_delivery_is_one_lost(
        j: JournalBuilder, data: st.DataObject) -> None:
    v = check(j.events)
    assert v["passed"] is True, v["examples"]
    assert v["counts"]["delivered"] == v["counts"]["expected_deliveries"]
    deliveries = [e for e in j.events if e["ev"] == "deliver"]
    gone = data.draw(st.sampled_from(deliveries))
    dropped = check(without(j.events, {(gone["user"], gone["device"], gone["mid"])}))
    assert dropped["anomalies"] == {**{k: 0 for k in KINDS}, "lost": 1}
    assert dropped["passed"] is False
    missing = dropped["examples"]["lost"][0]
    assert f"{gone['user']}/{gone['device']}" in missing["explain"]
    assert missing["events"][1]["mid"] == gone["mid"]


@settings(max_examples=60, deadline=None)
@given(clean_histories(), st.data())
def test_lost_counts_each_message_that_misses_any_device(j: JournalBuilder,
                                                         data: st.DataObject) -> None:
    deliveries = sorted({(e["user"], e["device"], e["mid"]) for e in j.events
                         if e["ev"] == "deliver"})
    drop = set(data.draw(st.lists(st.sampled_from(deliveries), unique=True)))
    v = check(without(j.events, drop))
    assert v["anomalies"]["lost"] == len({mid for _, _, mid in drop})
    assert v["counts"]["delivered"] == v["counts"]["expected_deliveries"] - len(drop)
    assert sum(v["anomalies"].values()) == v["anomalies"]["lost"]
