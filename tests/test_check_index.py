"""The walk's records and the checks' memo: what a History holds, and what the checks derive
from it without writing to it."""

import pytest
from journal_builder import two_friends

from imload.check.history import build_history
from imload.check.index import PENDING, History, Memo, SendRecord
from imload.check.sends import send_tally
from imload.check.verdict import verdict_of


def test_a_send_record_starts_pending_with_its_first_attempt() -> None:
    first = {"ev": "send", "at": 1.0}
    rec = SendRecord(attempts=1, send_ev=first, last_ev=first)
    assert (rec.attempts, rec.outcome, rec.copies, rec.done_at, rec.ok_ev) == (
        1, PENDING, 0, None, None)
    assert rec.send_ev is rec.last_ev is first
    assert rec != SendRecord(attempts=1, send_ev=first, last_ev=first)  # one per logical send


def test_a_fact_is_made_once_and_shared() -> None:
    memo = Memo()
    assert memo.get("tally") is None
    tally = memo.put("tally", [1, 2])
    assert memo.get("tally") is tally
    with pytest.raises(ValueError, match="'tally' already"):
        memo.put("tally", [3])
    assert memo.get("tally") == [1, 2]


def test_a_table_is_one_dict_made_empty_on_first_use() -> None:
    memo = Memo()
    table = memo.table("recipients")
    assert table == {}
    table["g:1"] = ("alice", "phone")
    assert memo.table("recipients") is table


def test_a_keyed_fact_is_made_once_per_key() -> None:
    memo = Memo()
    made: list[str] = []

    def make(key: str) -> list[str]:
        made.append(key)
        return [key]

    first = memo.keyed("timelines", "g:1", lambda: make("g:1"))
    assert memo.keyed("timelines", "g:1", lambda: make("again")) is first
    assert memo.keyed("timelines", "g:2", lambda: make("g:2")) == ["g:2"]
    assert made == ["g:1", "g:2"] and set(memo.table("timelines")) == {"g:1", "g:2"}


def test_the_checks_leave_the_history_as_the_walk_left_it() -> None:
    j = two_friends()
    j.send("alice", "phone", "c1", "bob")
    j.ack("alice", "c1")
    j.deliver("bob", "phone", "alice", "c1")
    j.send("bob", "phone", "c2", "alice")  # never acked, never delivered
    h = build_history(j.events)

    def index() -> dict[str, str]:
        return {name: repr(getattr(h, name)) for name in History.__slots__ if name != "memo"}
    walked = index()
    first = verdict_of(h)  # every check, each memoised fact made once
    assert send_tally(h) is send_tally(h)  # and read from the memo after
    assert verdict_of(h) == first
    assert index() == walked
