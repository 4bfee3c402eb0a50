"""Step windows of a capacity run, each judged on its own (hand-made journals)."""

from journal_builder import JournalBuilder

from imload.capacity.steps import judge_steps, knee, split_by_step, step_windows
from imload.slo import Slo


def two_step_run(lose_in_step_2: bool = False, slow_in_step_2: bool = False) -> list[dict]:
    j = JournalBuilder(start=0.0)
    for user in ("a", "b"):
        j.device(user, "d0")
    j.phase("load", "start", at=0.0)
    n = 0
    for t in (1.0, 3.0, 6.0, 7.0, 11.0, 13.0, 16.0, 17.0):  # steps: [0,10), [10,20); ramp 2 s
        n += 1
        cmid = f"c{n}"
        j.send("a", "d0", cmid, "b", at=t)
        j.ack("a", cmid, at=t + (0.9 if slow_in_step_2 and t >= 10 else 0.01))
        skip = (("b", "d0"),) if lose_in_step_2 and cmid == "c7" else ()
        j.deliver_all("a", cmid, skip=skip, at=t + 1)
    j.audit_all()
    return sorted(j.events, key=lambda e: e["at"])


STEPS = step_windows(0.0, [10, 20], 10.0)


def test_messages_belong_to_the_window_of_their_first_attempt() -> None:
    per_step = split_by_step(two_step_run(), STEPS, ramp_s=2.0)
    cmids = [sorted({e["cmid"] for e in j if e["ev"] == "send"}) for j in per_step]
    assert cmids == [["c2", "c3", "c4"], ["c6", "c7", "c8"]]  # c1, c5 fall in the ramps
    assert all(any(e["ev"] == "device" for e in j) for j in per_step)  # shared events


def test_each_step_judged_and_the_knee_is_the_last_passing_step() -> None:
    rows = judge_steps(two_step_run(lose_in_step_2=True), STEPS, 2.0, [])
    assert [r["passed"] for r in rows] == [True, False]
    assert rows[1]["anomalies"] == {"lost": 1} and rows[1]["broke"] == ["lost = 0"]
    assert rows[0]["msgs_per_s"] == 0.4  # 3 acked over the 8 judged seconds
    assert knee(rows) == {"max_users": 10, "max_msgs_per_s": 0.4, "first_failing_users": 20,
                          "broke_first": "lost = 0"}


def test_a_latency_slo_breaks_a_step() -> None:
    rows = judge_steps(two_step_run(slow_in_step_2=True), STEPS, 2.0,
                       [Slo("latency_ms.ack.p99", max=500, name="ack p99")])
    assert [r["passed"] for r in rows] == [True, False] and rows[1]["broke"] == ["ack p99"]


def test_no_passing_step_no_capacity() -> None:
    rows = judge_steps(two_step_run(), STEPS, 2.0, [Slo("latency_ms.ack.p99", max=0.001)])
    assert knee(rows)["max_users"] is None and knee(rows)["first_failing_users"] == 10


def test_a_group_made_before_a_window_is_known_in_it() -> None:
    """The group op and its event message fall in step 1's ramp; step 2 still knows the
    members, so its group messages are judged (coverage 100 %) and a lost one is found."""
    j = JournalBuilder(start=0.0)
    for user in ("a", "b", "c"):
        j.device(user, "d0")
    j.phase("load", "start", at=0.0)
    j.t = 0.5
    j.group_op("a", "d0", "o1", "group_create", "g:x", members=("b", "c"))
    for n, t in enumerate((12.0, 13.0, 14.0), 1):
        j.t = t
        j.group_message("a", "d0", "g:x", f"c{n}", skip=(("c", "d0"),) if n == 2 else ())
    j.audit_all()
    rows = judge_steps(sorted(j.events, key=lambda e: e["at"]), STEPS, 2.0, [])
    assert rows[1]["anomalies"] == {"lost": 1} and rows[1]["broke"] == ["lost = 0"]
    assert rows[0]["broke"] == ["nothing acked in the window"]  # nothing sent in step 1
    assert rows[1]["passed"] is False and rows[0]["passed"] is False
