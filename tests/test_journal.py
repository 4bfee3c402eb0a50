from pathlib import Path

import pytest

from imload.journal import (
    EVENT_FIELDS,
    FIELD_TYPES,
    JournalError,
    JournalWriter,
    body_digest,
    event,
    event_problem,
    read_journal,
)


def test_event_checks_its_fields() -> None:
    assert event("device", 1.0, user="u", device="d") == {"ev": "device", "at": 1.0,
                                                          "user": "u", "device": "d"}
    with pytest.raises(ValueError, match="lacks device"):
        event("device", 1.0, user="u")
    with pytest.raises(ValueError, match="unknown journal event"):
        event("nope", 1.0)


def test_every_required_field_has_a_type() -> None:
    assert {f for fields in EVENT_FIELDS.values() for f in fields} <= set(FIELD_TYPES)


@pytest.mark.parametrize(("e", "problem"), [
    ({"ev": "device", "at": 1.0, "user": "u", "device": "d"}, None),
    ({"ev": "newer_kind", "at": 1.0, "anything": [1]}, None),  # unknown kinds pass
    ({"ev": "device", "at": 1.0, "user": "u", "device": "d", "extra": {}}, None),
    ({"ev": "connect_failed", "at": 1.0, "user": "u", "device": "d", "reason": "503",
      "retry_after_ms": None}, None),
    ({"at": 1.0}, "lacks 'ev'"),
    ({"ev": "device", "at": 1.0, "user": "u"}, "lacks 'device'"),
    ({"ev": "device", "at": "1", "user": "u", "device": "d"}, "'at' is str '1', not int or float"),
    ({"ev": "device", "at": 1.0, "user": ["u"], "device": "d"}, "'user' is list ['u'], not str"),
    ({"ev": "device", "at": 1.0, "user": "u", "device": "d", "seen_seq": "3"},
     "'seen_seq' is str '3', not int or null"),
    ({"ev": "op", "at": 1.0, "user": "u", "device": "d", "session": 1, "opid": "o1",
      "kind": "contact_add", "args": {"user": 7}, "attempt": 1}, "'args.user' must be a string"),
    ({"ev": "state", "at": 1.0, "user": "u", "device": "d", "session": 1, "contacts": [1],
      "pinned": [], "groups": [], "phase": "audit"}, "'contacts' must be a list of strings"),
    ([1, 2], "not an object but list"),
])
def test_event_problem_names_what_is_wrong(e: object, problem: str | None) -> None:
    assert event_problem(e) == problem


def test_digest_is_stable_and_short() -> None:
    assert body_digest("hello") == body_digest("hello") != body_digest("hellp")
    assert len(body_digest("x")) == 16


def test_files_merge_by_time_and_torn_lines_are_named(tmp_path: Path) -> None:
    with JournalWriter(tmp_path, "a") as w:
        w.write(event("device", 3.0, user="u", device="d1"))
        w.write(event("device", 1.0, user="u", device="d0"))
    with JournalWriter(tmp_path, "b") as w:
        w.write(event("device", 2.0, user="v", device="d0"))
    with open(tmp_path / "b.jsonl", "ab") as f:
        f.write(b'{"ev": "device", "at": 4.0, "us')  # a write torn by a kill
        f.write(b'\n[1, 2]\n')
    j = read_journal(tmp_path)
    assert [e["at"] for e in j.events] == [1.0, 2.0, 3.0]
    assert len(j.bad_lines) == 2 and j.bad_lines[0].startswith("b.jsonl:2")


def test_missing_folder_or_files(tmp_path: Path) -> None:
    with pytest.raises(JournalError, match="no journal folder"):
        read_journal(tmp_path / "nope")
    with pytest.raises(JournalError, match="no journal files"):
        read_journal(tmp_path)


# -- both forms -----------------------------------------------------------------------------

def _dev(at: float, user: str, **more: object) -> dict[str, object]:
    return {**event("device", at, user=user, device="d0"), **more}


def test_a_folder_mixing_both_forms_merges_by_time(tmp_path: Path) -> None:
    from imload.journal.columnar import ColumnarJournalWriter
    with JournalWriter(tmp_path, "a") as w:
        for at in (1.0, 4.0, 5.0):
            w.write(_dev(at, "a"))
    with ColumnarJournalWriter(tmp_path, "b", flush_every=2) as c:
        for at in (0.5, 2.0, 4.0, 6.0):  # 4.0 ties with a's: a.jsonl is read first
            c.write(_dev(at, "b", note={"x": [1]}))
    j = read_journal(tmp_path)
    assert [p.name for p in j.files] == ["a.jsonl", "b.arrows.zst"]
    assert [(e["at"], e["user"]) for e in j.events] == [
        (0.5, "b"), (1.0, "a"), (2.0, "b"), (4.0, "a"), (4.0, "b"), (5.0, "a"), (6.0, "b")]
    assert j.events[0] == _dev(0.5, "b", note={"x": [1]})
    assert list(j.events[0]) == ["ev", "at", "user", "device", "note"]
    assert j.bad_lines == []


def test_several_folders_are_one_history(tmp_path: Path) -> None:
    from imload.journal.columnar import ColumnarJournalWriter
    with ColumnarJournalWriter(tmp_path / "host-a", "locust-a-1") as c:
        c.write(_dev(2.0, "a"))
        c.write(_dev(3.0, "a"))
    with JournalWriter(tmp_path / "host-b", "locust-b-1") as w:
        w.write(_dev(1.0, "b"))
        w.write(_dev(2.5, "b"))
    j = read_journal([tmp_path / "host-a", str(tmp_path / "host-b")])
    assert [p.parent.name for p in j.files] == ["host-a", "host-b"]
    assert [(e["at"], e["user"]) for e in j.events] == [(1.0, "b"), (2.0, "a"), (2.5, "b"),
                                                        (3.0, "a")]
    with pytest.raises(JournalError, match="no journal folder given"):
        read_journal([])
    with pytest.raises(JournalError, match="no journal folder at"):
        read_journal([tmp_path / "host-a", tmp_path / "host-c"])


def test_a_torn_columnar_file_is_named_and_its_whole_batches_kept(tmp_path: Path) -> None:
    from imload.journal.columnar import ColumnarJournalWriter
    with ColumnarJournalWriter(tmp_path, "b", flush_every=3) as c:
        for i in range(7):
            c.write(_dev(float(i), "b"))
        two_batches = c.path.stat().st_size  # (flushed at 3 and 6 events)
    data = c.path.read_bytes()
    c.path.write_bytes(data[: two_batches + 10])  # the last batch torn by a kill
    with JournalWriter(tmp_path, "a") as w:
        w.write(_dev(0.5, "a"))
    j = read_journal(tmp_path)
    assert [e["at"] for e in j.events] == [0.0, 0.5, 1.0, 2.0, 3.0, 4.0, 5.0]
    assert len(j.bad_lines) == 1
    assert j.bad_lines[0].startswith("b.arrows.zst: cut short after 6 events")


def test_a_raw_row_that_is_no_event_is_named(tmp_path: Path) -> None:
    from imload.journal.columnar import ColumnarJournalWriter
    with ColumnarJournalWriter(tmp_path, "b") as c:
        c.write(_dev(1.0, "b"))
        c.write({"ev": "device", "at": "soon"})  # kept raw, then refused by the reader
    j = read_journal(tmp_path)
    assert [e["at"] for e in j.events] == [1.0]
    assert j.bad_lines == ["b.arrows.zst: 1 rows not events (need 'ev' and a numeric 'at')"]


def test_unordered_events_read_both_forms_and_project_what_is_asked(tmp_path: Path) -> None:
    from imload.audit import AUDIT_FIELDS, AUDIT_KINDS, devices_to_audit
    from imload.journal.columnar import ColumnarJournalWriter
    from imload.journal.reader import unordered_events

    events = [event("device", 1.0, user="a", device="d0"),
              event("phase", 1.5, phase="load", action="start")]
    for n in range(1, 40):
        events.append({"ev": "deliver", "at": 2.0 + n, "user": "b", "device": "d1",
                       "session": 1, "mid": f"m{n}", "conv": "d:a:b", "seq": n,
                       "useq": n if n != 7 else 70, "from": "a", "from_device": "d0",
                       "cmid": f"c{n}", "digest": None, "via": "push"})
    events.insert(5, {"ev": "deliver", "at": 4.5, "user": "c", "device": "d2", "useq": 2**70})
    with ColumnarJournalWriter(tmp_path, "locust-1", flush_every=16) as w:
        for e in events[:30]:
            w.write(e)
    with JournalWriter(tmp_path, "run") as w:
        for e in events[30:]:
            w.write(e)
    everything = list(unordered_events(tmp_path))
    assert sorted(everything, key=lambda e: e["at"]) == sorted(events, key=lambda e: e["at"])
    picked = list(unordered_events(tmp_path, AUDIT_KINDS, AUDIT_FIELDS))
    assert all(list(e) == list(AUDIT_FIELDS) for e in picked)  # the raw row too
    assert len(picked) == len(events) - 1
    assert devices_to_audit(picked) == devices_to_audit(events) == {
        ("a", "d0"): 0, ("b", "d1"): 6, ("c", "d2"): 0}
