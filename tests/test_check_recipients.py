"""Who must receive a message: direct chats, and groups as of each seq (from event deliveries)."""

from journal_builder import JournalBuilder, two_friends

from imload.check.history import build_history
from imload.check.recipients import expected_devices, expected_users, group_timeline


def team() -> JournalBuilder:
    """alice (phone, laptop), bob and carol (phone); alice makes g:team with bob (seq 1),
    a message (seq 2), adds carol (seq 3), a message (seq 4), removes bob (seq 5), a message
    (seq 6)."""
    j = JournalBuilder()
    j.phase("load", "start")
    for user, device in (("alice", "phone"), ("alice", "laptop"), ("bob", "phone"),
                         ("carol", "phone")):
        j.device(user, device)
    j.group_op("alice", "phone", "o1", "group_create", "g:team", members=("bob",))
    j.group_message("alice", "phone", "g:team", "c1")
    j.group_op("bob", "phone", "o2", "group_add", "g:team", who="carol")
    j.group_message("bob", "phone", "g:team", "c2")
    j.group_op("alice", "laptop", "o3", "group_remove", "g:team", who="bob")
    j.group_message("carol", "phone", "g:team", "c3")
    return j


def test_a_direct_chat_is_both_users_every_device_the_senders_own_included() -> None:
    for j, seq in ((team(), 7), (two_friends(), 1)):
        assert set(expected_devices("d:alice:bob", seq, build_history(j.events)) or ()) == {
            ("alice", "phone"), ("alice", "laptop"), ("bob", "phone")}


def test_groups_without_events_and_bad_convs_are_not_known_yet() -> None:
    h = build_history(two_friends().events)
    assert expected_devices("g:team", 3, h) is None
    assert expected_devices("not a conv", 1, h) is None


def test_group_members_follow_the_events_in_seq_order() -> None:
    h = build_history(team().events)
    assert expected_users("g:team", 2, h) == ("alice", "bob")
    assert expected_users("g:team", 4, h) == ("alice", "bob", "carol")
    assert expected_users("g:team", 6, h) == ("alice", "carol")
    # a change goes to the members before and after it: the removed one learns it
    assert expected_users("g:team", 5, h, is_event=True) == ("alice", "bob", "carol")
    assert expected_users("g:team", 3, h, is_event=True) == ("alice", "bob", "carol")
    assert set(expected_devices("g:team", 6, h) or ()) == {
        ("alice", "phone"), ("alice", "laptop"), ("carol", "phone")}
    t = group_timeline("g:team", h)
    assert t.seqs == [1, 3, 5] and t.is_member("bob", 4) and not t.is_member("bob", 6)


def test_unknown_groups_and_seqs_before_the_creation_are_none() -> None:
    h = build_history(team().events)
    assert expected_devices("g:other", 1, h) is None
    assert expected_devices("g:team", 0, h) is None
    assert expected_devices("not a conv", 1, h) is None


def test_a_group_whose_creation_was_never_seen_stays_unknown() -> None:
    j = team()
    h = build_history([e for e in j.events if not (e["ev"] == "deliver" and e["seq"] == 1)])
    assert expected_devices("g:team", 2, h) is None
    assert expected_devices("g:team", 6, h) is None
