"""Screening malformed events: what is set aside, how it is named, what is kept."""

from imload.check.screen import MAX_NAMED, screen
from imload.journal import event


def good(n: int) -> dict:
    return event("device", float(n), user=f"u{n}", device="d")


def test_well_formed_events_pass_in_their_order() -> None:
    events = [good(i) for i in range(5)]
    kept, bad = screen(events)
    assert kept == events and bad == []


def test_each_malformed_event_is_set_aside_and_named_by_position_and_reason() -> None:
    missing = {"ev": "send_ok", "at": 2.0, "user": "u", "device": "d", "session": 1,
               "cmid": "c1", "mid": "m1", "seq": 1, "dup": False}  # no conv
    wrong = {**event("read_ok", 3.0, user="u", device="d", session=1, conv="d:u:v", upto=2),
             "upto": "2"}
    nested = event("marks", 4.0, user="u", device="d", session=1, marks={"d:u:v": None},
                   phase="audit")
    events = [good(1), missing, wrong, "not an event", nested, good(6)]
    kept, bad = screen(events)
    assert kept == [events[0], events[5]]
    assert bad == ["event #2 ('send_ok' at 2.0): lacks 'conv'",
                   "event #3 ('read_ok' at 3.0): 'upto' is str '2', not int",
                   "event #4 ('str' at None): not an object but str",
                   "event #5 ('marks' at 4.0): 'marks' must map conversations to seqs"]


def test_the_names_are_capped_and_say_how_many_more() -> None:
    events = [{"ev": "device", "at": float(i)} for i in range(MAX_NAMED + 50)]
    kept, bad = screen(events)
    assert kept == [] and len(bad) == MAX_NAMED
    assert bad[-1] == "... and 51 more malformed events"
