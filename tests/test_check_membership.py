"""Group members from the clients' acked ops; the server's event wording a second witness."""

from typing import Any

from journal_builder import JournalBuilder, two_friends
from test_check_recipients import team

from imload.check import check
from imload.check.history import build_history
from imload.check.membership import group_timeline, membership_cases
from imload.check.recipients import expected_users


def terse(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The journal as a server that words its events its own way would leave it: the create
    event a JSON string naming only the creator, no member list (the device keeps the text)."""
    out = []
    for e in events:
        if e["ev"] == "deliver" and e.get("kind") == "event":
            e = {k: v for k, v in e.items() if k != "event"}
            e["event_text"] = '{"op": "group_create", "user": "alice"}'
        out.append(e)
    return out


def late_joiner_misses_a_message() -> JournalBuilder:
    """team(), then a message after carol joined that never reaches carol, and the audit."""
    j = team()
    j.group_message("alice", "phone", "g:team", "c4", skip=(("carol", "phone"),))
    j.audit_all()
    return j


def test_members_come_from_the_clients_ops_even_when_the_server_words_events_otherwise(
        ) -> None:
    h = build_history(terse(team().events))
    assert expected_users("g:team", 2, h) == ("alice", "bob")
    assert expected_users("g:team", 4, h) == ("alice", "bob", "carol")
    assert expected_users("g:team", 6, h) == ("alice", "carol")
    assert group_timeline("g:team", h).unknown is None


def test_a_terse_server_still_has_its_lost_group_messages_found() -> None:
    v = check(terse(late_joiner_misses_a_message().events))
    assert v["anomalies"]["lost"] == 1 and v["valid"] is False
    assert "carol/phone" in v["examples"]["lost"][0]["explain"]
    assert v["coverage"]["lost"]["unjudged"] == 0
    # the second witness could not be read: counted, with the reason and an example
    cov = v["coverage"]["membership"]
    assert (cov["due"], cov["judged"]) == (3, 0)
    assert cov["reasons"][0]["reason"] == "event body not understood"
    assert "group_create" in cov["reasons"][0]["example"]


def test_the_same_journal_with_the_documented_wording_is_fully_judged() -> None:
    v = check(late_joiner_misses_a_message().events)
    assert v["anomalies"]["lost"] == 1
    assert v["coverage"]["membership"]["percent"] == 100.0
    assert v["coverage"]["lost"]["percent"] == 100.0


def test_a_group_no_client_created_is_unknown_never_passed() -> None:
    j = two_friends()  # g:old is older than the run: its messages reach alice and bob
    j.groups["g:old"] = {"alice", "bob"}
    j.message("alice", "phone", "bob", "c0")
    for i in range(1, 4):
        j.group_message("bob", "phone", "g:old", f"c{i}")
    j.audit_all()
    v = check(j.events)
    assert v["valid"] == "unknown" and v["passed"] is False
    assert not any(v["anomalies"].values())
    lost = v["coverage"]["lost"]
    assert (lost["due"], lost["unjudged"], lost["percent"]) == (4, 3, 25.0)
    assert lost["reasons"][0]["reason"] == "members unknown"
    assert v["unknown"][0].startswith("lost: could not check 3 of 4 acked messages: "
                                      "members unknown (3); e.g. g:old: no client's "
                                      "group_create")
    assert v["coverage"]["gap"]["reasons"][0]["reason"] == "members unknown"


def test_an_applied_op_whose_event_nobody_received_cannot_be_placed() -> None:
    j = team()
    j.op("bob", "phone", "o9", "group_add", {"conv": "g:team", "user": "dave"})
    j.op_ok("bob", "phone", "o9")
    j.audit_all()
    h = build_history(j.events)
    t = group_timeline("g:team", h)
    assert t.unknown == "membership op not placed" and "o9" in t.example
    v = check(j.events)
    assert v["valid"] == "unknown"
    assert v["coverage"]["membership"]["reasons"][0]["reason"] == "no event message"


def test_an_indeterminate_op_counts_only_when_its_event_exists() -> None:
    j = team()
    j.op("alice", "phone", "o8", "group_add", {"conv": "g:team", "user": "bob"})
    j.op_info("alice", "phone", "o8")  # never stored: not applied, and nothing is unknown
    h = build_history(j.events)
    assert group_timeline("g:team", h).unknown is None
    assert expected_users("g:team", 6, h) == ("alice", "carol")


def test_a_server_event_that_contradicts_the_acked_op_is_a_membership_anomaly() -> None:
    j = team()
    for e in j.events:
        if e["ev"] == "deliver" and e["cmid"] == "op:o2":  # bob added carol; it says dave
            e["event"] = {"op": "group_add", "user": "dave", "by": "bob"}
    cases = membership_cases(build_history(j.events))
    assert cases.count == 1 and cases.due == 3 and cases.unjudged == 0
    explain = cases.examples[0]["explain"]
    assert "o2 (group_add user=carol)" in explain and "group_add of dave" in explain
    assert [e["ev"] for e in cases.examples[0]["events"]] == ["op", "op_ok", "deliver"]


def test_member_spans_include_the_removal_event_itself() -> None:
    t = group_timeline("g:team", build_history(team().events))
    assert t.member_spans("bob") == [(1, 6)]
    assert t.member_spans("carol") == [(3, None)]
    assert t.member_spans("alice") == [(1, None)]
    assert t.member_spans("nobody") == []


def test_group_ops_the_server_refused_changed_nothing() -> None:
    """The reference server's group rules (consent, the owner) answer ``forbidden``: a
    refused create made again once the member agreed, a refused add of a stranger and a
    member's refused removal of the owner are no membership change; fully judged."""
    j = JournalBuilder()
    j.phase("load", "start")
    for user in ("alice", "bob", "carol"):
        j.device(user, "phone")
    create = {"conv": "g:team", "members": ["bob"]}
    j.op("alice", "phone", "o1", "group_create", create)
    j.op_fail("alice", "phone", "o1", "forbidden: op group_create: 1 of the members (bob) "
              "have not added alice as a contact")
    j.group_op("alice", "phone", "o2", "group_create", "g:team", members=("bob",))
    j.op("alice", "phone", "o3", "group_add", {"conv": "g:team", "user": "carol"})
    j.op_fail("alice", "phone", "o3", "forbidden: op group_add: carol has not added alice")
    j.op("bob", "phone", "o4", "group_remove", {"conv": "g:team", "user": "alice"})
    j.op_fail("bob", "phone", "o4", "forbidden: op group_remove: only the owner ...")
    j.group_message("bob", "phone", "g:team", "c1")
    for user in ("alice", "bob", "carol"):
        j.state(user, "phone")
    j.audit_all()
    h = build_history(j.events)
    assert expected_users("g:team", 2, h) == ("alice", "bob")
    v = check(j.events)
    assert v["valid"] is True and not any(v["anomalies"].values()), v["anomalies"]
    assert v["coverage"]["membership"]["percent"] == 100.0


def test_role_ops_change_no_membership_and_refused_ones_change_nothing() -> None:
    """The owner names bob an admin (an event at seq 2, to every member), bob as an admin
    removes carol; a refused removal of the owner and a refused role op changed nothing:
    the members come from the membership ops alone, fully judged."""
    j = JournalBuilder()
    j.phase("load", "start")
    for user in ("alice", "bob", "carol"):
        j.device(user, "phone")
    j.group_op("alice", "phone", "o1", "group_create", "g:team", members=("bob", "carol"))
    j.group_op("alice", "phone", "o2", "group_role", "g:team", who="bob")
    j.op("bob", "phone", "o3", "group_remove", {"conv": "g:team", "user": "alice"})
    j.op_fail("bob", "phone", "o3", "forbidden: op group_remove: bob is an admin of g:team "
              "and may not remove its owner")
    j.op("bob", "phone", "o4", "group_role", {"conv": "g:team", "user": "carol",
                                              "role": "admin"})
    j.op_fail("bob", "phone", "o4", "forbidden: op group_role: only the owner ...")
    j.group_op("bob", "phone", "o5", "group_remove", "g:team", who="carol")  # seq 3
    j.group_message("alice", "phone", "g:team", "c1")  # seq 4
    for user in ("alice", "bob", "carol"):
        j.state(user, "phone")
    j.audit_all()
    h = build_history(j.events)
    t = group_timeline("g:team", h)
    assert t.seqs == [1, 3] and t.unknown is None  # the role change is no membership change
    assert expected_users("g:team", 2, h, is_event=True) == ("alice", "bob", "carol")
    assert expected_users("g:team", 4, h) == ("alice", "bob")
    v = check(j.events)
    assert v["valid"] is True and not any(v["anomalies"].values()), v["anomalies"]
    assert v["coverage"]["membership"]["percent"] == 100.0
    assert v["coverage"]["op"]["due"] == 3  # o1, o2, o5 acked


def test_a_role_event_a_member_never_got_is_a_gap_in_the_group() -> None:
    """A role event takes a seq like any message of the group: a member who never gets it
    has a hole in the group's seqs."""
    j = JournalBuilder()
    j.phase("load", "start")
    for user in ("alice", "bob"):
        j.device(user, "phone")
    j.group_op("alice", "phone", "o1", "group_create", "g:team", members=("bob",))
    j.group_op("alice", "phone", "o2", "group_role", "g:team", who="bob",
               skip=(("bob", "phone"),))
    j.group_message("alice", "phone", "g:team", "c1")  # seq 3
    for user in ("alice", "bob"):
        j.state(user, "phone")
    j.audit_all()
    v = check(j.events)
    assert v["valid"] is False and v["anomalies"]["gap"] == 1, v["anomalies"]
    assert "bob" in v["examples"]["gap"][0]["explain"]
