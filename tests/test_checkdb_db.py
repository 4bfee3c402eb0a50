"""The journal in DuckDB (imload/checkdb/db.py): the reference order, exact events back."""

from __future__ import annotations

import sys
from pathlib import Path

from imload.checkdb.db import connect, fetch
from imload.checkdb.load import load, load_events
from imload.journal import read_journal
from imload.journal.columnar import ColumnarJournalWriter
from imload.journal.writer import JournalWriter

sys.path.insert(0, str(Path(__file__).parent))
from journal_builder import two_friends  # noqa: E402


def sample() -> list[dict]:
    j = two_friends()
    for n in range(6):
        j.message("alice", "phone", "bob", f"c{n}")
    j.events.append({"ev": "mystery", "at": j.events[-1]["at"], "odd": [1, {"x": None}]})
    j.events.append({"ev": "send", "at": 7, "user": "x"})  # kept whole (int at)
    j.audit_all()
    return j.events


def numbered(con) -> list[dict]:
    n = con.execute("SELECT count(*) FROM events").fetchone()[0]
    found = fetch(con, range(n))
    return [found[i] for i in range(n)]


def test_files_of_both_forms_load_in_the_readers_order(tmp_path: Path) -> None:
    events = sample()
    half = len(events) // 2
    with ColumnarJournalWriter(tmp_path, "a") as w:  # ties: a's events before b's
        for e in events[:half]:
            w.write(e)
    with JournalWriter(tmp_path, "b") as w:
        for e in events[half:]:
            w.write(e)
    expected = read_journal(tmp_path).events
    con = connect(memory_limit="256MB", threads=1)
    loaded = load(con, sorted(tmp_path.iterdir()))
    assert loaded.events == len(expected) and not loaded.bad_lines
    got = numbered(con)
    assert got == expected
    assert all(list(a) == list(b) for a, b in zip(got, expected, strict=True))  # key order


def test_events_in_memory_load_as_one_file() -> None:
    events = sample()
    con = connect(memory_limit="256MB", threads=1)
    load_events(con, events)
    assert numbered(con) == sorted(events, key=lambda e: e["at"])


def test_message_kinds_get_their_narrow_tables() -> None:
    con = connect(memory_limit="256MB", threads=1)
    load_events(con, sample())
    counts = dict(con.execute("SELECT ev, count(*) FROM events GROUP BY ev").fetchall())
    assert con.execute("SELECT count(*) FROM deliver").fetchone()[0] == counts["deliver"]
    assert con.execute("SELECT count(*) FROM send_ok").fetchone()[0] == counts["send_ok"]
    # the send kept whole (its at is an int) is not in the send table
    assert con.execute("SELECT count(*) FROM send").fetchone()[0] == counts["send"] - 1


def test_a_torn_columnar_file_is_named(tmp_path: Path) -> None:
    with ColumnarJournalWriter(tmp_path, "a") as w:
        for e in sample():
            w.write(e)
    path = tmp_path / "a.arrows.zst"
    path.write_bytes(path.read_bytes()[:-40])
    con = connect(memory_limit="256MB", threads=1)
    loaded = load(con, [path])
    assert loaded.bad_lines and "cut short" in loaded.bad_lines[0]


def test_the_database_folder_goes_away_when_the_connection_does(tmp_path: Path) -> None:
    import gc

    con = connect(memory_limit="256MB", threads=1, temp_directory=str(tmp_path))
    load_events(con, sample())
    assert list(tmp_path.iterdir())
    con.close()
    del con
    gc.collect()
    assert not list(tmp_path.iterdir())


def test_names_are_stored_as_ids_one_numbering_per_family() -> None:
    """A user's id is the same in ``user`` and ``from``; ``fetch`` gives the names back."""
    from imload.checkdb.db import names_of
    con = connect(memory_limit="256MB", threads=1, on_disk=False)
    events = sample()
    load_events(con, events)
    names = names_of(con)
    alice = names.id("user", "alice")
    assert alice is not None and names.name("user", alice) == "alice"
    assert names.id("user", "nobody") is None and names.id("mid", "no such mid") is None
    types = con.execute('SELECT typeof("user"), typeof("from"), typeof(mid) FROM deliver '
                        "LIMIT 1").fetchone()
    assert types == ("INTEGER", "INTEGER", "INTEGER")
    senders = {r[0] for r in con.execute('SELECT DISTINCT "from" FROM deliver').fetchall()}
    assert senders == {alice}  # (the events come back named: the tests above)
    rows = con.execute('SELECT "user", device, i FROM deliver ORDER BY i').fetchall()
    named = names.named(rows, "user", "device")  # a query's id columns named, in one take each
    assert [r[2] for r in named] == [r[2] for r in rows] and names.named([], "user") == []
    assert {(u, d) for u, d, _ in named} == {(e["user"], e["device"]) for e in events
                                              if e["ev"] == "deliver"}


def test_few_valued_text_columns_are_ids_and_an_all_null_column_a_constant() -> None:
    """``keys``, ``via``, ``phase`` and ``kind`` are coded too (``code`` names an id, -1 when
    no event has the value); a column null in every copy is kept as a constant NULL."""
    from imload.checkdb.db import code, folder_of, names_of
    con = connect(memory_limit="256MB", threads=1)
    load_events(con, sample())
    types = con.execute("SELECT typeof(keys), typeof(via), typeof(phase), typeof(kind), "
                        "typeof(event_text) FROM deliver LIMIT 1").fetchone()
    assert types == ("INTEGER", "INTEGER", "INTEGER", "INTEGER", "VARCHAR")
    push = code(con, "via", "push")
    assert push >= 0 and names_of(con).name("via", push) == "push"
    assert code(con, "kind", "event") == -1  # no membership copies here
    pushed = con.execute(f"SELECT count(*) FROM deliver WHERE via = {push}").fetchone()[0]
    assert pushed == con.execute("SELECT count(*) FROM deliver").fetchone()[0] > 0
    assert con.execute("SELECT count(event_text) FROM deliver").fetchone()[0] == 0
    assert not [p for p in Path(folder_of(con)).iterdir() if "spool" in p.name]  # removed
