from pathlib import Path

from journal_builder import JournalBuilder

from imload.journal import JournalWriter, event
from imload.live.stats import LiveStats
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
    j = JournalBuilder(start=0.0, tick=0.05)
    for u in ("a", "b"):
        j.device(u, "d0")
    for i in range(10):
        j.message("a", "d0", "b", f"c{i}")
    j.send("a", "d0", "late", "b")
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
