"""The DuckDB checker against the reference checker: byte-identical verdicts
(imload/checkdb/verdict.py).

A property test builds runs with every anomaly the DuckDB checker judges itself
planted at random (lost, partial, phantom, aborted, corrupted, gap, backwards, fifo,
causality, wire duplicates, reconnects, unaudited devices, faults, read markers going
down or unheld, contact ops and their final state, a group created, joined, left and
written to, with a copy missing) and
asserts that the DuckDB checker takes each run (in scope: nothing falls back) and writes the
very ``verdict.json`` the reference writes. Out of scope, the DuckDB checker hands the journal
to the reference and says why.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from imload.check import check
from imload.checkdb.verdict import duckdb_check
from imload.journal.columnar import ColumnarJournalWriter
from imload.journal.writer import JournalWriter
from imload.report.verdict_json import dumps_verdict

sys.path.insert(0, str(Path(__file__).parent))
from differential import judged_alike  # noqa: E402
from journal_builder import JournalBuilder  # noqa: E402

from imload.protocol import direct_conv  # noqa: E402

USERS = {"ann": ("phone", "laptop"), "bob": ("phone",), "cy": ("phone", "tablet")}
STEPS = ("ok", "ok", "ok", "lost", "phantom", "corrupt", "refused", "unsure", "reconnect",
         "backwards", "fifo", "causality", "twice", "sync", "fault", "marks", "stuck", "away",
         "read", "read_sync", "down", "op", "op_info", "group", "group", "join", "leave",
         "group_lost")
GROUP = "g:team"


def _group_step(j: JournalBuilder, step: str, user: str, n: int) -> None:
    """Groups: ann creates g:team with bob (the first group step), cy joins, bob leaves;
    members write (``group_lost``: a member device misses it)."""
    members = j.groups.get(GROUP)
    if members is None:
        j.group_op("ann", "phone", f"o{n}", "group_create", GROUP, members=("bob",))
    elif step == "join" and "cy" not in members:
        j.group_op("ann", "phone", f"o{n}", "group_add", GROUP, who="cy")
    elif step == "leave" and "bob" in members:
        j.group_op("ann", "phone", f"o{n}", "group_remove", GROUP, who="bob")
    else:
        writer = user if user in members else "ann"
        skip = (("cy" if "cy" in members else "bob", "phone"),) if step == "group_lost" else ()
        j.group_message(writer, USERS[writer][0], GROUP, f"c{n}", skip=skip)


def _read_step(j: JournalBuilder, step: str, user: str, device: str, to: str) -> None:
    """Reads of the chat with ``to`` up to its last seq (unheld when ``device`` lacks it);
    ``down``: the server answers 0; ``read_sync``: a push to the user's other device."""
    conv = direct_conv(user, to)
    upto = j.seqs.get(conv, 0)
    others = [d for d in USERS[user] if d != device]
    if step == "read_sync":
        j.read_sync(user, USERS[user][-1], conv, j.marks.get((user, conv), upto), device)
        return
    ok = j.read(user, device, conv, upto, stored=0 if step == "down" else None)
    for other in others:  # the push of the new marker to the other device
        j.read_sync(user, other, conv, ok["upto"], device)


def build(steps: list[tuple[str, int, int]], audit_all: bool) -> list[dict[str, Any]]:
    j = JournalBuilder()
    j.phase("load", "start")
    for user, devices in USERS.items():
        for device in devices:
            j.device(user, device)
    names = sorted(USERS)
    contacts: dict[str, set[str]] = {}
    for n, (step, a, b) in enumerate(steps):
        user, to = names[a % 3], names[(a + 1 + b % 2) % 3]
        device = USERS[user][b % len(USERS[user])]
        cmid = f"c{n}"
        if step == "ok":
            j.message(user, device, to, cmid)
        elif step == "lost":
            j.send(user, device, cmid, to)
            j.ack(user, cmid)
            j.deliver_all(user, cmid, skip=((to, USERS[to][0]),))
        elif step == "phantom":
            j.deliver(to, USERS[to][0], user, f"x{n}", mid=f"ph{n}", seq=1000 + n,
                      conv=None)
        elif step == "corrupt":
            j.send(user, device, cmid, to)
            j.ack(user, cmid)
            j.deliver_all(user, cmid, digest="0badc0de0badc0de")
        elif step == "refused":
            j.send(user, device, cmid, to)
            j.fail(user, cmid)
            j.deliver(to, USERS[to][0], user, cmid)
        elif step == "unsure":
            j.send(user, device, cmid, to)
            j.info(user, cmid)
            j.deliver(to, USERS[to][0], user, cmid)
        elif step == "reconnect":
            j.reconnect(user, device)
        elif step == "backwards":
            j.send(user, device, cmid, to)
            j.send(user, device, cmid + "b", to)
            j.ack(user, cmid)
            j.ack(user, cmid + "b")
            j.deliver_all(user, cmid + "b")
            j.deliver_all(user, cmid)
        elif step == "fifo":
            j.send(user, device, cmid, to)
            j.send(user, device, cmid + "b", to)
            j.ack(user, cmid + "b")
            j.ack(user, cmid)
            j.deliver_all(user, cmid + "b")
            j.deliver_all(user, cmid)
        elif step == "causality":
            j.send(user, device, cmid, to, seen_seq=10_000)
            j.ack(user, cmid)
            j.deliver_all(user, cmid)
        elif step == "twice":
            j.message(user, device, to, cmid)
            j.deliver_all(user, cmid, via="sync")
        elif step == "sync":
            j.send(user, device, cmid, to, seen_seq=None)
            j.ack(user, cmid)
            j.deliver_all(user, cmid, via="sync")
        elif step == "fault":
            j.fault("start", f"f{n}", kind="latency", latency_ms=100)
            j.fault("stop", f"f{n}")
        elif step == "marks":
            j.marks_of(user, device, {})
        elif step == "away":  # the recipient logs in again after the send: an away sample
            j.send(user, device, cmid, to)
            j.ack(user, cmid)
            j.reconnect(to, USERS[to][0])
            j.deliver_all(user, cmid, via="sync")
        elif step == "stuck":  # acked, and only its sender's own devices got it
            j.send(user, device, cmid, to)
            j.ack(user, cmid)
            j.deliver_all(user, cmid, skip=tuple((to, d) for d in USERS[to]))
        elif step in ("read", "read_sync", "down"):
            _read_step(j, step, user, device, to)
        elif step in ("op", "op_info"):
            j.op(user, device, f"o{n}", "contact_add", {"user": to})
            if step == "op":
                j.op_ok(user, device, f"o{n}")
                contacts.setdefault(user, set()).add(to)
            else:
                j.op_info(user, device, f"o{n}")
        elif step in ("group", "join", "leave", "group_lost"):
            _group_step(j, step, user, n)
    j.phase("load", "end")
    if audit_all:
        j.audit_all()
        for user, devices in USERS.items():  # the final markers and state
            for device in devices:
                j.marks_of(user, device)
                j.state(user, device, contacts=tuple(sorted(contacts.get(user, ()))))
    else:  # bob never finishes his audit: what he misses is not judged
        j.phase("audit", "start")
        for user, devices in USERS.items():
            for device in devices:
                j.audit(user, device, "start")
                if user != "bob":
                    j.audit(user, device, "done")
    return j.events


runs = st.lists(st.tuples(st.sampled_from(STEPS), st.integers(0, 5), st.integers(0, 5)),
                min_size=0, max_size=25)


@settings(max_examples=25)  # each example loads a DuckDB database: ~0.3 s
@given(runs, st.booleans())
def test_the_engine_writes_the_reference_verdict(steps: list[tuple[str, int, int]],
                                                 audit_all: bool) -> None:
    judged_alike(build(steps, audit_all))


def test_every_anomaly_it_judges_is_found_and_shown_alike() -> None:
    events = build([(s, n, n + 1) for n, s in enumerate(STEPS)] * 2, audit_all=True)
    reference = check(events)
    for kind in ("lost", "phantom", "corrupted", "aborted", "partial", "backwards", "fifo",
                 "causality", "read_sync"):
        assert reference["anomalies"][kind], kind  # planted: the comparison means something
    assert reference["latency_ms"]["away"]["count"] >= 2  # and the away latency
    assert reference["latency_ms"]["read_sync"]["count"] >= 1  # and the read_sync one
    assert reference["counts"]["ops"] and reference["counts"]["expected_deliveries"]
    judged_alike(events)
    judged_alike(events, max_examples=1)


def opaque(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``events`` of a target that declares its seqs opaque (XMPP, MQTT): labels."""
    declare = {"ev": "declare", "at": events[0]["at"],
               "numbering": {"seq": "opaque", "useq": "contiguous"}}
    return [events[0], declare, *events[1:]]


def subscriptions(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``events`` of an MQTT-like target: opaque seqs, groups as subscriptions; every device
    joins the group at the start but cy's tablet, which joins halfway through."""
    start, middle = events[0]["at"], len(events) // 2
    declare = {"ev": "declare", "at": start, "group_membership": "subscription",
               "numbering": {"seq": "opaque", "useq": "contiguous"}}
    joined = [{"ev": "joined", "at": start, "user": user, "device": device, "session": 1,
               "conv": GROUP} for user, devices in USERS.items() for device in devices
              if (user, device) != ("cy", "tablet")]
    late = {"ev": "joined", "at": events[middle]["at"], "user": "cy", "device": "tablet",
            "session": 1, "conv": GROUP}
    return [events[0], declare, *joined, *events[1:middle], late, *events[middle:]]


@settings(max_examples=25)
@given(runs, st.booleans())
def test_subscriptions_get_the_reference_verdict(steps: list[tuple[str, int, int]],
                                                 audit_all: bool) -> None:
    """A group message owed to the devices that had joined before it was sent."""
    judged_alike(subscriptions(build(steps, audit_all)))


@settings(max_examples=25)
@given(runs, st.booleans())
def test_opaque_seqs_get_the_reference_verdict(steps: list[tuple[str, int, int]],
                                                audit_all: bool) -> None:
    """Groups placed by the time rule, the order checks not judged."""
    judged_alike(opaque(build(steps, audit_all)))


def test_opaque_seqs_are_judged_alike_groups_by_the_time_rule() -> None:
    """Every anomaly planted, with opaque seqs: the order checks count their items as not
    judged, group messages are owed by the time rule, as the reference does."""
    events = opaque(build([(s, n, n + 1) for n, s in enumerate(STEPS)] * 2, audit_all=True))
    reference = check(events)
    for kind in ("order", "backwards", "fifo", "causality", "read_sync"):  # planted, skipped
        reasons = [r["reason"] for r in reference["coverage"][kind]["reasons"]]
        assert "seq declared opaque" in reasons, kind
    assert reference["anomalies"]["lost"] and reference["anomalies"]["corrupted"]
    assert reference["counts"]["expected_deliveries"] > 0
    judged_alike(events)
    judged_alike(events, max_examples=1)
    with_subscriptions = subscriptions(build([(s, n, n + 1) for n, s in enumerate(STEPS)] * 2,
                                             audit_all=True))
    assert check(with_subscriptions)["counts"]["expected_deliveries"] < \
        reference["counts"]["expected_deliveries"]  # the late tablet is owed less
    judged_alike(with_subscriptions)


def test_a_journal_read_from_files_gives_the_same_verdict(tmp_path: Path) -> None:
    events = build([(s, n, 2 * n) for n, s in enumerate(STEPS)], audit_all=True)
    for form, writer in (("columnar", ColumnarJournalWriter), ("jsonl", JournalWriter)):
        with writer(tmp_path / form, "locust-x-1") as w:
            for e in events[: len(events) // 2]:
                w.write(e)
        with writer(tmp_path / form, "run") as w:  # two files: ties keep the file order
            for e in events[len(events) // 2:]:
                w.write(e)
        files = sorted((tmp_path / form).iterdir())
        got, info = duckdb_check(files)
        assert info.checker == "duckdb", info.reason
        assert dumps_verdict(got) == dumps_verdict(check(events))


def test_out_of_scope_the_reference_judges_and_the_reason_is_given() -> None:
    j = JournalBuilder()
    j.phase("load", "start")
    j.device("ann", "phone")
    j.device("bob", "phone")
    j.send("ann", "phone", "c1", "bob")
    j.ack("ann", "c1")
    j.deliver_all("ann", "c1", ts=5)  # a hybrid display: the display order is not ported
    j.audit_all()
    got, info = duckdb_check(events=j.events)
    assert info.checker == "reference" and info.reason == "copies with ts"
    assert dumps_verdict(got) == dumps_verdict(check(j.events))


def test_rows_that_are_not_events_go_to_the_reference_which_names_them() -> None:
    events = build([("ok", 0, 0), ("group", 1, 1), ("read", 2, 0)], audit_all=True)
    events.insert(3, {"at": 100.5, "user": "ann"})  # no ev: the reference sets it aside
    got, info = duckdb_check(events=events)
    assert info.checker == "reference" and "not events" in (info.reason or "")
    assert got["journal"]["bad_events"] and dumps_verdict(got) == dumps_verdict(check(events))


def test_an_e2e_run_is_judged_alike_and_a_failed_copy_goes_to_the_reference() -> None:
    j = JournalBuilder()
    j.phase("load", "start")
    for user in ("ann", "bob"):
        j.device(user, "phone")
    for e in j.events:  # the devices seal their bodies (device.e2e): undecryptable applies
        if e["ev"] == "device":
            e["e2e"] = True
    j.send("ann", "phone", "c1", "bob")
    j.ack("ann", "c1")
    j.deliver_all("ann", "c1")
    j.audit_all()
    got = judged_alike(j.events)
    assert got["coverage"]["undecryptable"]["due"] == 2
    j.send("bob", "phone", "c2", "ann")
    j.ack("bob", "c2")
    j.deliver("ann", "phone", "bob", "c2", undecryptable=True)["digest"] = None
    got, info = duckdb_check(events=j.events)
    assert info.checker == "reference" and "failed authentication" in str(info.reason)
    assert got["anomalies"]["undecryptable"] == 1 and got["anomalies"]["corrupted"] == 0


def test_a_connection_logged_in_twice_files_its_copies_by_the_later_login() -> None:
    """Two ``connected`` of one device and session: a copy's login is the latest before it
    (the e2e table's ``ASOF`` join, not the equality join most runs take)."""
    j = JournalBuilder()
    for user, devices in USERS.items():
        for device in devices:
            j.device(user, device)
    j.message("ann", "phone", "bob", "c1")
    j.add("connected", user="bob", device="phone", session=1, node="n1", inbox_seq=1, acked=1)
    j.send("ann", "phone", "c2", "bob")
    j.add("connected", user="bob", device="phone", session=1, node="n1", inbox_seq=1, acked=1)
    j.ack("ann", "c2")
    j.deliver_all("ann", "c2")
    j.audit_all()
    v = judged_alike(j.events)
    assert v["latency_ms"]["away"]["count"] == 1  # c2's copy on bob's phone: logged in after


def test_a_useq_held_twice_does_not_hide_the_hole_it_covers() -> None:
    """A device holding two mids at one useq, and none at the next: as many copies as its
    inbox top, from 1 to the top, and still a gap (the DuckDB checker's duplicate test)."""
    events = build([("ok", 0, 0)] * 4, audit_all=True)
    bobs = [e for e in events if e["ev"] == "deliver" and e["user"] == "bob"]
    assert [e["useq"] for e in bobs] == [1, 2, 3, 4]
    bobs[2]["useq"] = 2  # 1, 2, 2, 4: four copies, lowest 1, highest 4, 3 missing
    verdict = judged_alike(events)
    assert verdict["anomalies"]["gap"] == 1
    assert verdict["examples"]["gap"][0]["explain"].endswith(
        "inbox positions 1..4 after the audit: useq 3")
