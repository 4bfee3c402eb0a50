"""The player: steps at model time / speed, group steps wait for the group, reactive reads."""

from __future__ import annotations

import random
from typing import Any

import pytest

from imload.traffic.trace import Step
from imload.users.player import Player, make_body


class FakeDevice:
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.groups: dict[str, bool] = {}
        self.outcomes: dict[str, str | None] | None = None  # None: every op ends op_ok
        self.opids = 0

    def send_message(self, conv: str, body: str) -> str:
        self.calls.append(("send", (conv, len(body))))
        return "c"

    def do_op(self, kind: str, args: dict[str, Any]) -> str:
        self.calls.append(("op", kind))
        self.opids += 1
        return f"op{self.opids}"

    def op_outcome(self, opid: str) -> str | None:
        return "op_ok" if self.outcomes is None else self.outcomes.get(opid)

    def mark_read(self, conv: str, upto: int | None = None) -> int | None:
        self.calls.append(("read", conv))
        return 1

    def set_network(self, up: bool) -> None:
        self.calls.append(("net", up))

    def in_group(self, conv: str) -> bool | None:
        return self.groups.get(conv)


def player(steps: list[Step], **kw: Any) -> tuple[Player, FakeDevice]:
    d = FakeDevice()
    return Player(d, steps, t0=100.0, rng=random.Random(1), me="me", **kw), d


def test_steps_play_at_t0_plus_t_over_speed() -> None:
    steps = [Step(1.0, "send", conv="d:a:me", size=30), Step(2.0, "offline", size=3),
             Step(4.0, "online"), Step(6.0, "op", kind="pin", args={"conv": "d:a:me"})]
    p, d = player(steps, speed=2.0)
    assert p.next_at() == 100.5 and p.wait_s(100.0) == 0.5
    assert p.run_due(100.4) == 0 and not d.calls
    assert p.run_due(101.0) == 2
    assert d.calls == [("send", ("d:a:me", 30)), ("net", False)]
    assert p.run_due(110.0) == 2 and p.done
    assert d.calls[2:] == [("net", True), ("op", "pin")]
    assert (p.played.sends, p.played.ops, p.played.spells) == (1, 1, 1)
    with pytest.raises(ValueError):
        player([], speed=0)


def test_a_late_device_catches_up_in_order() -> None:
    p, d = player([Step(float(t), "send", conv="d:a:me", size=5) for t in range(5)])
    assert p.run_due(1000.0) == 5 and len(d.calls) == 5


def test_group_steps_wait_for_the_group_then_go_anyway() -> None:
    steps = [Step(0.0, "send", conv="g:x", size=5), Step(0.0, "send", conv="d:a:me", size=5),
             Step(0.0, "op", kind="group_add", args={"conv": "g:x", "user": "b"}),
             Step(0.0, "op", kind="group_create", args={"conv": "g:y", "members": []})]
    p, d = player(steps, group_wait_s=10.0)
    assert p.run_due(100.0) == 2  # the direct send and the create go; two wait for g:x
    assert [c[0] for c in d.calls] == ["send", "op"] and p.played.deferred == 2
    assert not p.done and p.next_at() == pytest.approx(100.25)
    d.groups["g:x"] = True
    assert p.run_due(101.0) == 2 and p.done and p.played.forced == 0
    q, e = player([Step(0.0, "send", conv="g:z", size=5)], group_wait_s=10.0)
    q.run_due(100.0)
    assert q.run_due(109.0) == 0 and q.run_due(110.0) == 1 and q.played.forced == 1


def test_reactive_reads_of_others_messages_once_per_conversation() -> None:
    p, d = player([], read_share=1.0, read_delay_s=2.0)
    deliver = {"ev": "deliver", "from": "a", "kind": "text", "phase": "load", "conv": "d:a:me"}
    p.on_deliver(deliver, 100.0)
    p.on_deliver(deliver, 100.1)  # already one pending for that conversation
    p.on_deliver({**deliver, "from": "me"}, 100.0)  # my own: no
    p.on_deliver({**deliver, "kind": "event"}, 100.0)  # membership events: no
    p.on_deliver({**deliver, "phase": "audit"}, 100.0)
    assert len(p._reads) == 1
    p.run_due(1000.0)
    assert d.calls == [("read", "d:a:me")] and p.done
    off, _ = player([], read_share=0.0)
    off.on_deliver(deliver, 100.0)
    assert off.done


def test_bodies_have_the_size_asked() -> None:
    rng = random.Random(3)
    for size in (0, 1, 5, 80, 600, 4096):
        body = make_body(rng, size)
        assert len(body.encode()) == max(1, size)


def test_a_refused_group_op_is_made_again_until_its_window_ends() -> None:
    """A group_create refused (a member's consent not there yet) is made again every
    refused_retry_s, as a new op, until refused_wait_s after it was first played."""
    outcomes: dict[str, str | None] = {}
    p, d = player([Step(0.0, "op", kind="group_create", args={"conv": "g:y", "members": []}),
                   Step(0.0, "op", kind="pin", args={"conv": "d:a:me", "pinned": True})],
                  refused_retry_s=2.0, refused_wait_s=5.0)
    d.outcomes = outcomes
    assert p.run_due(100.0) == 2 and not p.done  # the create's outcome is not known yet
    outcomes["op1"] = "op_fail"
    assert p.run_due(100.5) == 0 and p.next_at() == 102.5
    assert p.run_due(102.5) == 1 and d.calls[-1] == ("op", "group_create")
    outcomes["op3"] = "op_fail"
    assert p.run_due(103.0) == 0 and p.next_at() == 105.0
    assert p.run_due(105.0) == 1
    outcomes["op4"] = "op_fail"  # the window (until 105.0) is over: given up
    assert p.run_due(106.0) == 0 and p.done and p.played.retried == 2
    q, e = player([Step(0.0, "op", kind="group_add", args={"conv": "g:y", "user": "b"})])
    e.groups["g:y"] = True
    e.outcomes = {"op1": "op_ok"}
    assert q.run_due(100.0) == 1 and q.done and q.played.retried == 0


def test_will_retry_names_the_refusals_made_again() -> None:
    p, d = player([Step(0.0, "op", kind="group_create", args={"conv": "g:y", "members": []}),
                   Step(0.0, "op", kind="pin", args={"conv": "d:a:me", "pinned": True})],
                  refused_retry_s=2.0, refused_wait_s=5.0)
    d.outcomes = {}
    p.run_due(100.0)
    assert p.will_retry("op1", 100.1) and not p.will_retry("op2", 100.1)  # a pin: never
    assert not p.will_retry("op1", 103.5)  # too late in the window for another try


def test_a_refused_group_op_is_asked_less_often_as_time_goes_by() -> None:
    p, d = player([Step(0.0, "op", kind="group_add", args={"conv": "g:y", "user": "b"})],
                  refused_retry_s=2.0, refused_cap_s=10.0, refused_wait_s=300.0)
    d.groups["g:y"] = True
    d.outcomes = {}
    p.run_due(100.0)
    times = []
    now = 100.0
    for n in range(1, 40):
        d.outcomes[f"op{n}"] = "op_fail"
        p.run_due(now)  # sees the refusal: the retry is due later, if at all
        due = p.next_at()
        if due is None:
            break
        now = due
        times.append(now)
        p.run_due(now)
    gaps = [round(b - a, 2) for a, b in zip([100.0, *times], times, strict=False)]
    assert gaps[:3] == [2.0, 2.0, 2.0] and max(gaps) == 10.0 and gaps == sorted(gaps)
    assert times[-1] <= 400.0 and len(times) < 40 and p.done
