"""Numbering declared by the target: contiguous, increasing, opaque; cost never by value."""

import time

from journal_builder import JournalBuilder, two_phones

from imload.check import check
from imload.check.history import build_history
from imload.check.numbering import numbering

STAMP = 1_733_000_000_000  # a 13-digit millisecond timestamp


def chat(declared: dict[str, str] | None, n: int = 3, base: int = 0,
         step: int = 1) -> JournalBuilder:
    """alice and bob exchange ``n`` messages numbered base + step, base + 2 step, ..."""
    j = two_phones(numbering=declared)
    for i in range(1, n + 1):
        sender, to = ("alice", "bob") if i % 2 else ("bob", "alice")
        j.send(sender, "phone", f"c{i}", to, seen_seq=base + step * (i - 1))
        j.ack(sender, f"c{i}", seq=base + step * i)
        j.deliver_all(sender, f"c{i}")
    j.audit_all()
    return j


def test_nothing_declared_is_protocol_v1_contiguous() -> None:
    assert numbering(build_history(chat(None).events)) == {"seq": "contiguous",
                                                           "useq": "contiguous"}
    v = check(chat(None).events)
    assert v["passed"] is True and v["coverage"]["gap"]["percent"] == 100.0


def test_timestamp_seqs_declared_increasing_pass_with_full_coverage_but_gaps() -> None:
    v = check(chat({"seq": "increasing"}, base=STAMP, step=1000).events)
    assert v["valid"] is True and v["unknown"] == []
    assert v["coverage"]["gap"]["due"] == 2  # useq is still contiguous: judged
    v = check(chat({"seq": "increasing", "useq": "increasing"}, base=STAMP,
                   step=1000).events)
    assert v["valid"] is True
    assert v["coverage"]["gap"]["applicable"] is False and v["coverage"]["gap"]["percent"] is None


def test_timestamp_seqs_are_checked_in_the_time_of_small_ones() -> None:
    """The old gap check walked range(1, seq): hours for 13-digit seqs. The bound here is
    generous (seconds for a journal that takes milliseconds); the ratio lives in
    benchmarks/bench_checker.py --seqs timestamps."""
    for declared in ({"seq": "contiguous"}, {"seq": "increasing"}):
        events = chat(declared, n=400, base=STAMP, step=7).events
        started = time.perf_counter()
        v = check(events)
        assert time.perf_counter() - started < 20.0
        if declared["seq"] == "contiguous":  # every number below the first is a hole
            assert v["anomalies"]["gap"] == 2 and v["valid"] is False
            assert " and " in v["examples"]["gap"][0]["explain"]  # named up to 8, counted
        else:
            assert v["valid"] is True


def test_opaque_seqs_leave_the_order_checks_unjudged() -> None:
    v = check(chat({"seq": "opaque"}).events)
    assert v["valid"] == "unknown"
    for kind in ("order", "backwards", "fifo", "causality"):
        cov = v["coverage"][kind]
        assert cov["unjudged"] == cov["due"] > 0, kind
        assert cov["reasons"][0]["reason"] == "seq declared opaque"
    assert v["coverage"]["lost"]["percent"] == 100.0  # loss needs no order


def test_string_seqs_are_set_aside_and_make_the_verdict_unknown() -> None:
    events = chat(None).events
    for e in events:
        if e["ev"] == "send_ok" and e["cmid"] == "c2":
            e["seq"] = "1733000000000-0"
    v = check(events)
    assert v["valid"] == "unknown" and v["passed"] is False
    journal = v["coverage"]["journal"]
    assert journal["unjudged"] == 1 and journal["reasons"][0]["reason"] == "malformed event"
    assert "'seq' is str" in journal["reasons"][0]["example"]


def test_a_bad_declaration_is_set_aside_too() -> None:
    v = check(chat({"seq": "sometimes"}).events)
    assert v["valid"] == "unknown"
    assert "'numbering' must map" in v["journal"]["bad_events"][0]
