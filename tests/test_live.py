from pathlib import Path

from journal_builder import JournalBuilder, a_chat

from imload.journal import JournalWriter, event
from imload.live.stats import LATENCY_BUCKETS_MS, LiveStats
from imload.live.tail import JournalTail


def test_tail_returns_only_complete_new_lines_of_every_file(tmp_path: Path) -> None:
    tail = JournalTail(tmp_path / "journal")
    assert tail.poll() == []
    w = JournalWriter(tmp_path / "journal", "a", flush_every=1)
    w.write(event("device", 2.0, user="u", device="d"))
    with open(tmp_path / "journal" / "b.jsonl", "wb") as f:
        f.write(b'{"ev": "device", "at": 1.0, "user": "v", "device": "d"}\n{"ev": "dev')
    assert [e["at"] for e in tail.poll()] == [1.0, 2.0]
    assert tail.poll() == []
    with open(tmp_path / "journal" / "b.jsonl", "ab") as f:
        f.write(b'ice", "at": 3.0, "user": "w", "device": "d"}\n')
    assert [e["user"] for e in tail.poll()] == ["w"]
    w.close()


def test_live_figures_and_streaming_precheck() -> None:
    j = a_chat(10)
    stats = LiveStats(window_s=10)
    for ev in j.events:
        stats.feed(ev)
    snap = stats.snapshot()
    assert snap["connected"] == 2 and snap["acked"] == 10 and snap["pending"] == 1
    assert snap["msgs_per_s"] == 1.0 and snap["ack_p99_ms"] is not None
    assert snap["anomalies"] == {"order": 0, "duplicated": 0}
    # a second mid for a (conv, seq) and for a cmid: both seen before any audit
    stats.feed({"ev": "deliver", "at": 9.0, "user": "b", "device": "d0", "conv": "d:a:b",
                "seq": 1, "mid": "m999", "from": "a", "cmid": "c0"})
    assert stats.snapshot()["anomalies"] == {"order": 1, "duplicated": 1}


def test_tail_returns_each_event_of_a_columnar_file_once(tmp_path: Path) -> None:
    from imload.journal.columnar import ColumnarJournalWriter
    tail = JournalTail(tmp_path)
    w = ColumnarJournalWriter(tmp_path, "c", flush_every=1000)
    w.write(event("device", 1.0, user="u", device="d"))
    assert tail.poll() == []  # not flushed yet: an empty file
    w.write(event("device", 2.0, user="v", device="d"))
    w.flush()
    with JournalWriter(tmp_path, "j", flush_every=1) as j:
        j.write(event("device", 1.5, user="x", device="d"))
    assert [(e["at"], e["user"]) for e in tail.poll()] == [(1.0, "u"), (1.5, "x"), (2.0, "v")]
    assert tail.poll() == []
    for i in range(3):
        w.write(event("device", 3.0 + i, user=f"w{i}", device="d"))
    assert tail.poll() == []  # written, not yet flushed
    w.flush()
    assert [e["user"] for e in tail.poll()] == ["w0", "w1", "w2"]
    w.close()  # the end-of-stream marker: the file grows, no event is new
    assert tail.poll() == []


def fed(events: list[dict], **kw: float) -> LiveStats:
    stats = LiveStats(**kw)
    for ev in events:
        stats.feed(ev)
    return stats


def test_sends_count_first_attempts_and_pushes_only_pushes() -> None:
    j = JournalBuilder(start=0.0, tick=0.01)
    for u in ("a", "b"):
        j.device(u, "d0")
    j.send("a", "d0", "c1", "b")
    j.send("a", "d0", "c1", "b", attempt=2)  # a retry is not a new send
    j.ack("a", "c1")
    j.deliver("b", "d0", "a", "c1", via="push")
    j.message("a", "d0", "b", "c2", via="sync")  # to a and b: both by sync
    snap = fed(j.events).snapshot()
    assert snap["sends"] == 2 and snap["acked"] == 2
    assert snap["pushes"] == 1


def test_acked_unseen_counts_acked_mids_no_other_device_has() -> None:
    j = JournalBuilder(start=0.0, tick=0.01)
    j.device("a", "d0")
    j.device("a", "d1")
    j.device("b", "d0")
    j.send("a", "d0", "c1", "b")
    j.ack("a", "c1")  # m1
    stats = fed(j.events)
    assert stats.snapshot()["acked_unseen"] == 1
    stats.feed(j.deliver("a", "d0", "a", "c1"))  # the sending device itself: not seen
    assert stats.snapshot()["acked_unseen"] == 1
    stats.feed(j.deliver("a", "d1", "a", "c1"))  # the sender's other device: seen
    assert stats.snapshot()["acked_unseen"] == 0 and stats.unseen == {}
    # delivered before its ack was read (another process's file came first): never unseen
    j.send("a", "d0", "c2", "b")
    early = [j.deliver("b", "d0", "a", "c2"), j.ack("a", "c2")]
    for ev in early:
        stats.feed(ev)
    assert stats.snapshot()["acked_unseen"] == 0
    # and the early delivery is forgotten after horizon_s: bounded memory
    j.send("a", "d0", "c3", "b", at=stats.now + stats.horizon_s + 1)
    stats.feed(j.events[-1])
    assert stats.seen_early == {} and list(stats.started) == [("a", "c3")]


def test_push_p99_is_first_attempt_to_push_over_the_window() -> None:
    j = JournalBuilder(start=0.0)
    for u in ("a", "b", "c"):
        j.device(u, "d0", connect=False)
    j.send("a", "d0", "c1", "b", at=1.0)
    j.send("a", "d0", "c1", "b", attempt=2, at=1.5)  # latency runs from the first attempt
    j.ack("a", "c1", at=1.6)
    j.deliver("b", "d0", "a", "c1", at=1.75)  # 750 ms
    j.send("a", "d0", "c2", "c", at=2.0)
    j.deliver("c", "d0", "a", "c2", at=2.09)  # 90 ms, pushed before the ack was read
    j.ack("a", "c2", at=2.2)
    j.deliver("b", "d0", "a", "c1", via="sync", at=2.5)  # not a push
    stats = fed(j.events, window_s=10)
    snap = stats.snapshot()
    assert snap["pushes"] == 2 and snap["push_p99_ms"] == 750.0
    hist = snap["push_hist_ms"]
    assert hist["count"] == 2 and abs(hist["sum_ms"] - 840.0) < 0.01
    assert dict((le, n) for le, n in hist["buckets"])[100] == 1
    assert dict((le, n) for le, n in hist["buckets"])[1000] == 2
    stats.feed({"ev": "phase", "at": 30.0, "phase": "load", "action": "end"})
    assert stats.snapshot()["push_p99_ms"] is None  # out of the window; the histogram stays
    assert stats.snapshot()["push_hist_ms"]["count"] == 2


def test_ack_histogram_is_cumulative_per_fixed_bucket() -> None:
    j = JournalBuilder(start=0.0)
    j.device("a", "d0", connect=False)
    for i, latency in enumerate((0.003, 0.030, 0.030, 40.0)):
        j.send("a", "d0", f"c{i}", "b", at=100.0 * i)
        j.ack("a", f"c{i}", at=100.0 * i + latency)
    hist = fed(j.events).snapshot()["ack_hist_ms"]
    cumulative = dict((le, n) for le, n in hist["buckets"])
    assert [le for le, _ in hist["buckets"]] == list(LATENCY_BUCKETS_MS)
    assert cumulative[5] == 1 and cumulative[25] == 1 and cumulative[50] == 3
    assert cumulative[30000] == 3 and hist["count"] == 4  # 40 s: only in +Inf
    assert abs(hist["sum_ms"] - 40063.0) < 0.01


def test_reconnects_and_faults() -> None:
    j = JournalBuilder(start=0.0)
    j.device("a", "d0")
    j.device("a", "d1")
    j.reconnect("a", "d0")
    j.reconnect("a", "d0")
    j.add("fault", action="start", kind="latency", target="n1", fault="f1_latency_n1",
          detail={})
    stats = fed(j.events)
    snap = stats.snapshot()
    assert snap["reconnects"] == 2 and snap["connected"] == 2
    assert snap["faults"] == [{"fault": "f1_latency_n1", "kind": "latency", "target": "n1",
                               "active": True}]
    stats.feed(j.add("fault", action="stop", kind="latency", target="n1",
                     fault="f1_latency_n1", detail={}))
    assert [f["active"] for f in stats.snapshot()["faults"]] == [False]
