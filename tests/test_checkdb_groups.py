"""Groups in the DuckDB checker (imload/checkdb/groups.py): the members owed each message,
from the reference's own timelines, give the reference's verdict."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from differential import judged_alike  # noqa: E402
from journal_builder import JournalBuilder, two_friends  # noqa: E402

TEAM = "g:team"


def team() -> JournalBuilder:
    j = two_friends()
    j.device("carl", "phone")
    j.group_op("alice", "phone", "o1", "group_create", TEAM, members=("bob",))
    j.group_message("bob", "phone", TEAM, "c1")  # before carl joins: not his
    j.group_op("alice", "phone", "o2", "group_add", TEAM, who="carl")
    return j


def test_a_late_joiner_is_owed_what_follows_his_join_only() -> None:
    j = team()
    j.group_message("alice", "laptop", TEAM, "c2", skip=(("carl", "phone"),))
    j.audit_all()
    v = judged_alike(j.events)
    assert v["anomalies"]["lost"] == 1 and "carl/phone" in v["examples"]["lost"][0]["explain"]
    assert v["counts"]["expected_deliveries"] == 3 + 4  # c1: alice 2 + bob 1; c2: + carl


def test_a_removed_member_is_owed_nothing_after_his_removal() -> None:
    j = team()
    j.group_op("alice", "phone", "o3", "group_remove", TEAM, who="bob")
    j.group_message("carl", "phone", TEAM, "c3")
    j.audit_all()
    for user, devices in j.devices.items():  # the audit's states: bob is out
        for device in devices:
            j.state(user, device)
    v = judged_alike(j.events)
    assert v["valid"] is True and v["anomalies"]["gap"] == 0


def test_a_group_no_client_created_is_not_judged_and_says_why() -> None:
    j = two_friends()
    j.groups["g:old"] = {"alice", "bob"}  # older than the run: no group_create in it
    j.group_message("alice", "phone", "g:old", "c1")
    j.audit_all()
    v = judged_alike(j.events)
    assert v["coverage"]["lost"]["unjudged"] == 1 and v["valid"] == "unknown"
