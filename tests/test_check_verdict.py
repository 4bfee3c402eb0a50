"""The verdict: its shape, valid / passed / unknown, examples, and a property over clean runs."""

from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from journal_builder import JournalBuilder, two_friends
from test_check_recipients import team

from imload.check import CHECKS, check
from imload.journal import EVENT_FIELDS, event_problem

KINDS = {"lost", "partial", "duplicated", "phantom", "corrupted", "order", "aborted", "gap",
         "backwards", "fifo", "causality", "read_sync", "op", "display_order", "membership",
         "undecryptable"}


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
    assert v["unknown"] == [] and set(v["coverage"]) == KINDS | {"journal"}
    assert all(c["unjudged"] == 0 for c in v["coverage"].values())
    assert v["coverage"]["lost"] | {"reasons": None} == {
        "unit": "acked messages", "due": 2, "judged": 2, "unjudged": 0, "percent": 100.0,
        "reasons": None}


def test_the_verdict_has_the_documented_keys_and_is_json() -> None:
    v = check(clean_run().events, bad_lines=["a.jsonl:3: not JSON"])
    assert set(v) == {"valid", "passed", "counts", "fractions", "anomalies", "examples",
                      "latency_ms", "cost", "info_reasons", "over_time", "faults", "phases",
                      "slo", "journal", "coverage", "unknown", "promises"}
    assert set(v["latency_ms"]) == {"ack", "e2e", "push", "away", "stable", "reconnect",
                                    "catchup", "read_sync"}
    assert orjson.loads(orjson.dumps(v)) == v
    assert v["journal"]["bad_lines"] == ["a.jsonl:3: not JSON"]
    # a torn line is a line the checker could not judge: not passed, not failed
    assert v["valid"] == "unknown" and v["passed"] is False
    assert v["coverage"]["journal"]["reasons"] == [
        {"reason": "unreadable line", "count": 1, "example": "a.jsonl:3: not JSON"}]
    assert v["unknown"] == ["journal: could not check 1 of "
                            f"{len(clean_run().events) + 1} journal lines: unreadable line (1); "
                            "e.g. a.jsonl:3: not JSON"]


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
    j.audit_all()
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
    j.audit_all()
    v = check(j.events)
    assert {k: n for k, n in v["anomalies"].items() if n} == {  # bob/phone's hole: a gap too
        "lost": 1, "corrupted": 3, "phantom": 1, "aborted": 1, "gap": 1}
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
    j.audit_all()
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
    # the audited device also has a hole in its inbox or the conversation, unless the copy
    # dropped was its last one
    assert dropped["anomalies"]["lost"] == 1
    assert {k for k, n in dropped["anomalies"].items() if n} <= {"lost", "gap"}
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
    assert sum(v["anomalies"].values()) == v["anomalies"]["lost"] + v["anomalies"]["gap"]


# -- one small journal per anomaly kind, and one clean run that has all the features -------

def rich_clean_run() -> JournalBuilder:
    """Direct chats, a group with membership changes, reads, ops, reconnects, the audit with
    its final markers and state: everything right."""
    j = team()
    j.message("alice", "phone", "bob", "d1")
    j.send("bob", "phone", "d2", "alice", seen_seq=1)
    j.ack("bob", "d2")
    j.deliver_all("bob", "d2")
    j.read("alice", "phone", "d:alice:bob", 2)
    j.read_sync("alice", "laptop", "d:alice:bob", 2, "phone")
    j.read("carol", "phone", "g:team", 6)
    j.op("alice", "laptop", "p1", "pin", {"conv": "g:team", "pinned": True})
    j.op_ok("alice", "laptop", "p1")
    j.reconnect("bob", "phone")
    j.phase("load", "end")
    j.phase("audit", "start")
    for user, devices in j.devices.items():
        for device in devices:
            j.audit(user, device, "start")
            j.marks_of(user, device)
            j.state(user, device, pinned=("g:team",) if user == "alice" else ())
            j.audit(user, device, "done")
    j.phase("audit", "end")
    return j


def make_lost(j: JournalBuilder) -> None:
    j.message("alice", "phone", "bob", "x1", skip=(("bob", "phone"),))


def make_partial(j: JournalBuilder) -> None:
    j.send("alice", "phone", "x1", "bob")
    j.info("alice", "x1")
    j.deliver("alice", "laptop", "alice", "x1")


def make_duplicated(j: JournalBuilder) -> None:
    j.message("alice", "phone", "bob", "x1")
    j.send("alice", "phone", "x1", "bob", attempt=2)
    j.ack("alice", "x1", mid="m99", seq=99)


def make_phantom(j: JournalBuilder) -> None:
    j.deliver("bob", "phone", "alice", "ghost", mid="m98", seq=98, via="sync")


def make_aborted(j: JournalBuilder) -> None:
    j.send("alice", "phone", "x1", "bob")
    j.fail("alice", "x1")
    j.deliver_all("alice", "x1")


def make_corrupted(j: JournalBuilder) -> None:
    j.message("alice", "phone", "bob", "x1", skip=(("bob", "phone"),))
    j.deliver("bob", "phone", "alice", "x1", digest="bad0bad0bad0bad0")


def make_undecryptable(j: JournalBuilder) -> None:
    j.message("alice", "phone", "bob", "x1", skip=(("bob", "phone"),))
    j.deliver("bob", "phone", "alice", "x1", undecryptable=True)["digest"] = None


def make_order(j: JournalBuilder) -> None:
    j.message("alice", "phone", "bob", "x1")
    j.send("bob", "phone", "x2", "alice")
    j.ack("bob", "x2", mid="m97", seq=j.msgs[("alice", "x1")].seq)
    j.deliver_all("bob", "x2")


def make_gap(j: JournalBuilder) -> None:
    j.send("alice", "phone", "x1", "bob")
    j.ack("alice", "x1", seq=50)
    j.deliver_all("alice", "x1")
    j.audit_all()


def make_backwards(j: JournalBuilder) -> None:
    for cmid in ("x1", "x2"):
        j.send("alice", "phone", cmid, "bob")
        j.ack("alice", cmid)
    j.deliver_all("alice", "x2")
    j.deliver_all("alice", "x1")


def make_fifo(j: JournalBuilder) -> None:
    j.send("alice", "phone", "x1", "bob")
    j.send("alice", "phone", "x2", "bob")
    j.ack("alice", "x2")
    j.ack("alice", "x1")
    j.deliver_all("alice", "x2", via="sync")
    j.deliver_all("alice", "x1", via="sync")


def make_causality(j: JournalBuilder) -> None:
    j.message("alice", "phone", "bob", "x1")
    seen = j.msgs[("alice", "x1")].seq
    j.send("bob", "phone", "x2", "alice", seen_seq=seen)
    j.ack("bob", "x2", mid="m96", seq=seen - 1)
    j.deliver_all("bob", "x2", via="sync")


def make_read_sync(j: JournalBuilder) -> None:
    j.message("alice", "phone", "bob", "x1")
    j.read("bob", "phone", "d:alice:bob", 1)
    j.read("bob", "phone", "d:alice:bob", 1, stored=0)  # the marker went down to 0


def make_op(j: JournalBuilder) -> None:
    j.op("bob", "phone", "o9", "contact_add", {"user": "alice"})
    j.op_ok("bob", "phone", "o9")
    j.state("bob", "phone", contacts=())


def make_display_order(j: JournalBuilder) -> None:
    # bob answers h1 (seen_seq), but his node's clock is behind: a hybrid display puts
    # the answer first
    j.send("alice", "phone", "h1", "bob")
    j.ack("alice", "h1")
    j.send("bob", "phone", "h2", "alice", seen_seq=j.msgs[("alice", "h1")].seq)
    j.ack("bob", "h2")
    j.deliver_all("alice", "h1", ts=1_000_000, server_ts=5_000)
    j.deliver_all("bob", "h2", ts=1_000_500, server_ts=4_000)


def make_membership(j: JournalBuilder) -> None:
    """The server's create event names other members than the client's acked op."""
    j.group_op("alice", "phone", "g1", "group_create", "g:x", members=("bob",))
    for e in j.events:
        if e["ev"] == "deliver" and e["cmid"] == "op:g1":
            e["event"] = {"op": "group_create", "user": "alice", "members": ["alice"]}


ANOMALY_JOURNALS = {
    "lost": make_lost, "partial": make_partial, "duplicated": make_duplicated,
    "phantom": make_phantom, "aborted": make_aborted, "corrupted": make_corrupted,
    "undecryptable": make_undecryptable,
    "order": make_order, "gap": make_gap, "backwards": make_backwards, "fifo": make_fifo,
    "causality": make_causality, "read_sync": make_read_sync, "op": make_op,
    "display_order": make_display_order, "membership": make_membership,
}
# kinds a maker fires on the side: seq 1 named twice; a copy that is not there, or a
# phantom's seq 50, leaves a hole in the audited device's inbox
ALSO = {"causality": {"order"}, "partial": {"gap"}, "phantom": {"gap"}}


def test_every_kind_has_a_journal_that_makes_it_fire() -> None:
    assert set(ANOMALY_JOURNALS) == set(CHECKS)


def test_the_rich_clean_run_passes() -> None:
    v = check(rich_clean_run().events)
    assert v["passed"] is True, {k: n for k, n in v["anomalies"].items() if n}
    assert v["counts"]["ops_ok"] == 4 and v["counts"]["reads_ok"] == 2
    assert v["latency_ms"]["reconnect"]["count"] == 1
    assert v["latency_ms"]["read_sync"]["count"] == 1


@pytest.mark.parametrize("kind", sorted(ANOMALY_JOURNALS))
def test_each_anomaly_fires_alone_with_its_evidence(kind: str) -> None:
    j = two_friends()
    j.message("alice", "phone", "bob", "c0")
    ANOMALY_JOURNALS[kind](j)
    j.audit_all()
    v = check(j.events)
    assert v["passed"] is False and v["valid"] is False
    fired = {k for k, n in v["anomalies"].items() if n}
    assert kind in fired and fired <= {kind} | ALSO.get(kind, set()), fired
    case = v["examples"][kind][0]
    assert case["explain"].endswith(tuple("0123456789)sdeghtmnrly")) and case["events"]
    assert orjson.loads(orjson.dumps(v)) == v


# -- damaged journals: malformed events are set aside and named, never a crash ---------------

def test_a_delivery_without_its_conv_is_named_and_its_message_counts_as_lost() -> None:
    j = two_friends()
    j.message("alice", "phone", "bob", "c1")
    j.audit_all()
    damaged = [dict(e) for e in j.events]
    n, bobs = next((i, e) for i, e in enumerate(damaged, 1)
                   if e["ev"] == "deliver" and e["user"] == "bob")
    del bobs["conv"]
    v = check(damaged)
    assert v["journal"]["bad_events"] == [f"event #{n} ('deliver' at {bobs['at']}): "
                                          "lacks 'conv'"]
    assert v["anomalies"]["lost"] == 1 and v["passed"] is False
    assert v["coverage"]["journal"]["unjudged"] == 1  # the event set aside, counted


def test_no_field_of_any_event_can_crash_the_checker() -> None:
    """Each field of each event of a rich run, removed or of the wrong type: a verdict."""
    events = rich_clean_run().events
    assert check(events)["journal"]["bad_events"] == []
    damages = {"missing": None, "a list": [1], "null": None}
    runs = named = 0
    seen: set[tuple[str, bool]] = set()  # one event per (kind, sender or receiver side)
    for i, e in enumerate(events):
        side = (e["ev"], e.get("user", "") == "alice")
        if side in seen:
            continue
        seen.add(side)
        for field in (*EVENT_FIELDS[e["ev"]], "ev", "at"):
            for how, value in damages.items():
                damaged = list(events)
                damaged[i] = {k: v for k, v in e.items() if k != field or how != "missing"}
                if how != "missing":
                    damaged[i][field] = value
                if event_problem(damaged[i]) is None:
                    continue  # still well formed (a field that may be null)
                bad = check(damaged)["journal"]["bad_events"]
                runs += 1
                named += bool(bad)
                # named whenever the walk stumbled on it; a field no check reads may pass
                assert not bad or bad == [f"event #{i + 1} ({damaged[i].get('ev')!r} at "
                                          f"{damaged[i].get('at')}): {event_problem(damaged[i])}"]
    assert runs > 500 and named > runs / 2
