"""op: applied twice, lost, out of its device's order, final state vs the fold of the ops."""

from journal_builder import JournalBuilder, only_case, two_friends

from imload.check.history import build_history
from imload.check.oplog import op_records
from imload.check.ops import op_cases

PIN = {"conv": "d:alice:bob", "pinned": True}
UNPIN = {"conv": "d:alice:bob", "pinned": False}


def ops_run() -> JournalBuilder:
    j = two_friends()
    j.device("carol", "phone")
    j.op("alice", "phone", "o1", "contact_add", {"user": "bob"})
    j.op("alice", "phone", "o1", "contact_add", {"user": "bob"}, attempt=2)
    j.op_ok("alice", "phone", "o1", dup=True)  # the retry's answer: applied once
    j.op("alice", "laptop", "o2", "pin", PIN)
    j.op_ok("alice", "laptop", "o2")
    j.op("alice", "phone", "o3", "contact_add", {"user": "carol"})
    j.op_ok("alice", "phone", "o3")
    j.op("alice", "phone", "o4", "contact_remove", {"user": "carol"})
    j.op_ok("alice", "phone", "o4")
    return j


def audit(j: JournalBuilder, contacts: tuple[str, ...] = ("bob",),
          pinned: tuple[str, ...] = ("d:alice:bob",)) -> None:
    j.phase("audit", "start")
    for device in ("phone", "laptop"):
        j.state("alice", device, contacts=contacts, pinned=pinned)
    j.state("bob", "phone")


def test_ops_fold_into_logical_ops() -> None:
    ops = op_records(build_history(ops_run().events))
    o1 = ops[("alice", "o1")]
    assert o1.attempts == 2 and o1.outcome == "ok" and o1.first["attempt"] == 1
    assert o1.last["attempt"] == 2 and len(o1.oks) == 1


def test_a_final_state_that_matches_the_fold_passes() -> None:
    j = ops_run()
    audit(j)
    assert op_cases(build_history(j.events)).count == 0


def test_an_acked_op_whose_effect_is_missing_is_lost() -> None:
    j = ops_run()
    audit(j, pinned=())
    case = only_case(op_cases(build_history(j.events)))
    explain = case["explain"]
    assert "alice's op o2 (pin conv=d:alice:bob pinned=True)" in explain
    assert "after the audit pinned lacks d:alice:bob: lost" in explain
    assert [e["ev"] for e in case["events"]] == ["op", "op_ok", "state"]


def test_an_earlier_ops_effect_remaining_is_out_of_order() -> None:
    j = ops_run()
    audit(j, contacts=("bob", "carol"))  # o4 (remove carol) came after o3 (add carol)
    case = only_case(op_cases(build_history(j.events)))
    explain = case["explain"]
    assert "alice's op o4 (contact_remove user=carol)" in explain
    assert "out of its device's order: o3 (contact_add user=carol)" in explain


def test_unknown_outcomes_and_overlapping_ops_accept_either_value() -> None:
    j = ops_run()
    j.op("alice", "phone", "o5", "pin", UNPIN)
    j.op_info("alice", "phone", "o5")  # may or may not have applied
    j.op("alice", "phone", "o6", "contact_add", {"user": "dave"})
    j.op("alice", "laptop", "o7", "contact_remove", {"user": "dave"})
    j.op_ok("alice", "phone", "o6")
    j.op_ok("alice", "laptop", "o7")  # concurrent with o6: either order
    audit(j, contacts=("bob", "dave"), pinned=())
    assert op_cases(build_history(j.events)).count == 0


def test_an_op_applied_twice() -> None:
    j = ops_run()
    j.op("alice", "phone", "o8", "pin", UNPIN)
    j.op_ok("alice", "phone", "o8")
    j.op("alice", "phone", "o8", "pin", UNPIN, attempt=2)
    j.op_ok("alice", "phone", "o8")  # dup false again: applied a second time
    case = only_case(op_cases(build_history(j.events)))
    assert "alice's op o8 (pin conv=d:alice:bob pinned=False) was applied twice" in case["explain"]


def test_devices_with_different_final_states() -> None:
    j = ops_run()
    j.phase("audit", "start")
    j.state("alice", "phone", contacts=("bob",), pinned=("d:alice:bob",))
    j.state("alice", "laptop", contacts=(), pinned=("d:alice:bob",))
    cases = op_cases(build_history(j.events))
    assert any("devices of alice fetched different states" in c["explain"]
               for c in cases.examples)


def group_run() -> JournalBuilder:
    j = two_friends()
    j.device("carol", "phone")
    j.group_op("alice", "phone", "g1", "group_create", "g:team", members=("bob",))
    j.group_op("alice", "phone", "g2", "group_add", "g:team", who="carol")
    j.group_op("alice", "phone", "g3", "group_remove", "g:team", who="bob")
    return j


def test_group_state_must_match_the_events() -> None:
    j = group_run()
    j.phase("audit", "start")
    for user in ("alice", "bob", "carol"):
        j.state(user, "phone")
    assert op_cases(build_history(j.events)).count == 0
    j.state("bob", "phone", groups=("g:team",))  # bob still in it after his removal
    case = only_case(op_cases(build_history(j.events)))
    assert "after the audit bob's groups include g:team" in case["explain"]


def test_a_group_op_applied_twice_has_two_event_mids() -> None:
    j = group_run()
    for d in ("phone", "laptop"):
        j.deliver("alice", d, "alice", "op:g2", mid="m77", seq=4, kind="event",
                  event={"op": "group_add", "user": "carol", "by": "alice"})
    case = only_case(op_cases(build_history(j.events)))
    assert "stored its membership event under 2 mids" in case["explain"]


def test_group_ops_of_one_session_applied_out_of_order() -> None:
    j = two_friends()
    j.device("carol", "phone")
    j.group_op("alice", "phone", "g1", "group_create", "g:team", members=("bob",))
    # g2 then g3 sent on one connection; the server applied g3 first
    j.op("alice", "phone", "g2", "group_add", {"conv": "g:team", "user": "carol"})
    j.group_op("alice", "phone", "g3", "group_remove", "g:team", who="bob")
    j.group_op("alice", "phone", "g2", "group_add", "g:team", who="carol", invoke=False)
    case = only_case(op_cases(build_history(j.events)))
    assert "alice's ops g2 and g3 on g:team were applied out of their device's order" in \
        case["explain"]


# -- pipelined ops: one connection's ops apply in the order sent (promise 8) ----------------
DAVE = {"user": "dave"}


def pipelined_pair(answers: tuple[str, str], final: tuple[str, ...]) -> JournalBuilder:
    """alice's phone comes back (session 2) and flushes o5 (add dave) and o6 (remove dave)
    in one instant, both on the wire before either answer; ``answers`` is the order of
    their op_oks, ``final`` alice's contacts after the audit."""
    j = ops_run()
    j.reconnect("alice", "phone")
    t = j.at()
    j.op("alice", "phone", "o5", "contact_add", DAVE, at=t)
    j.op("alice", "phone", "o6", "contact_remove", DAVE, at=t)
    for opid in answers:
        j.op_ok("alice", "phone", opid)
    audit(j, contacts=("bob", *final))
    return j


def test_a_pipelined_pair_applied_in_the_order_sent_passes() -> None:
    assert op_cases(build_history(pipelined_pair(("o5", "o6"), ()).events)).count == 0
    # answered the other way round (a node may), but the state is the fold in send order
    assert op_cases(build_history(pipelined_pair(("o6", "o5"), ()).events)).count == 0


def test_a_pipelined_pair_applied_out_of_order_is_an_op_anomaly() -> None:
    for answers in (("o6", "o5"), ("o5", "o6")):
        cases = op_cases(build_history(pipelined_pair(answers, ("dave",)).events))
        assert cases.count == 1, answers
        explain = cases.examples[0]["explain"]
        assert "alice's op o6 (contact_remove user=dave) was the last acked op" in explain
        assert "contacts has dave: applied out of its device's order: o5 (contact_add " \
               "user=dave) was sent before it on the same connection (session 2" in explain
        assert [e["ev"] for e in cases.examples[0]["events"]] == ["op", "op_ok", "op", "op_ok",
                                                                  "state"]


def test_overlapping_ops_of_two_devices_stay_either_order() -> None:
    j = ops_run()
    t = j.at()
    j.op("alice", "phone", "o5", "contact_add", DAVE, at=t)
    j.op("alice", "laptop", "o6", "contact_remove", DAVE, at=t)
    j.op_ok("alice", "laptop", "o6")
    j.op_ok("alice", "phone", "o5")
    audit(j, contacts=("bob",))
    assert op_cases(build_history(j.events)).count == 0
    audit(j, contacts=("bob", "dave"))
    assert op_cases(build_history(j.events)).count == 0


def test_an_op_sent_again_after_a_later_one_may_land_after_it() -> None:
    j = ops_run()
    j.op("alice", "phone", "o5", "contact_add", DAVE)
    j.op("alice", "phone", "o6", "contact_remove", DAVE)
    j.op("alice", "phone", "o5", "contact_add", DAVE, attempt=2)  # no answer: again
    j.op_ok("alice", "phone", "o6")
    j.op_ok("alice", "phone", "o5")
    audit(j, contacts=("bob", "dave"))  # o5's retry applied after o6
    assert op_cases(build_history(j.events)).count == 0


def test_an_op_first_sent_on_an_earlier_connection_is_either_order() -> None:
    j = ops_run()
    j.op("alice", "phone", "o5", "contact_add", DAVE)
    j.reconnect("alice", "phone")  # o5 unanswered: the old node may still apply it late
    t = j.at()
    j.op("alice", "phone", "o5", "contact_add", DAVE, attempt=2, at=t)
    j.op("alice", "phone", "o6", "contact_remove", DAVE, at=t)
    j.op_ok("alice", "phone", "o6")
    j.op_ok("alice", "phone", "o5", dup=True)
    audit(j, contacts=("bob", "dave"))
    assert op_cases(build_history(j.events)).count == 0


def test_pipelined_group_ops_applied_out_of_order() -> None:
    j = two_friends()
    j.device("carol", "phone")
    j.group_op("alice", "phone", "g1", "group_create", "g:team", members=("bob",))
    t = j.at()  # g2 and g3 go on the wire in one instant; the node applies g3 first
    j.op("alice", "phone", "g2", "group_add", {"conv": "g:team", "user": "carol"}, at=t)
    j.op("alice", "phone", "g3", "group_remove", {"conv": "g:team", "user": "bob"}, at=t)
    j.group_op("alice", "phone", "g3", "group_remove", "g:team", who="bob", invoke=False)
    j.group_op("alice", "phone", "g2", "group_add", "g:team", who="carol", invoke=False)
    case = only_case(op_cases(build_history(j.events)))
    assert "alice's ops g2 and g3 on g:team were applied out of their device's order" in \
        case["explain"]
