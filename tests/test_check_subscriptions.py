"""Groups as subscriptions (imload/check/subscriptions.py): when the target declares
``group_membership = "subscription"`` (MQTT), a group message is owed only to member
devices that had joined the group before it was sent."""

from journal_builder import JournalBuilder
from test_check_membership_time import OPAQUE, lost

DEVICES = (("alice", "phone"), ("bob", "phone"), ("bob", "laptop"))
LAPTOP = (("bob", "laptop"),)


def room(membership: str | None = "subscription") -> JournalBuilder:
    """alice and bob (two devices) in g:room; alice's phone and bob's phone have joined."""
    j = JournalBuilder()
    j.add("declare", numbering=OPAQUE,
          **({"group_membership": membership} if membership else {}))
    j.phase("load", "start")
    for user, device in DEVICES:
        j.device(user, device)
    j.group_op("alice", "phone", "o1", "group_create", "g:room", members=("bob",))
    for user, device in (("alice", "phone"), ("bob", "phone")):
        j.add("joined", user=user, device=device, session=1, conv="g:room")
    return j


def test_a_device_not_subscribed_yet_is_not_owed_the_message() -> None:
    j = room()
    j.group_message("alice", "phone", "g:room", "c1", skip=LAPTOP)  # the laptop never joined
    j.audit_all()
    n, _, cov = lost(j.events)
    assert n == 0 and cov["unjudged"] == 0
    j2 = room(membership=None)  # members: every device of bob is owed it
    j2.group_message("alice", "phone", "g:room", "c1", skip=LAPTOP)
    j2.audit_all()
    n, explained, _ = lost(j2.events)
    assert n == 1 and "bob/laptop" in explained[0]


def test_a_subscribed_device_that_never_gets_it_lost_it() -> None:
    j = room()
    j.add("joined", user="bob", device="laptop", session=1, conv="g:room")
    j.group_message("alice", "phone", "g:room", "c1", skip=LAPTOP)
    j.audit_all()
    n, explained, _ = lost(j.events)
    assert n == 1 and "bob/laptop" in explained[0] and "1 of 3" in explained[0]


def test_joining_after_the_send_owes_nothing_before_it() -> None:
    j = room()
    j.group_message("alice", "phone", "g:room", "c1", skip=LAPTOP)
    j.add("joined", user="bob", device="laptop", session=1, conv="g:room")
    j.group_message("alice", "phone", "g:room", "c2", skip=LAPTOP)  # owed now: lost
    j.audit_all()
    n, explained, _ = lost(j.events)
    assert n == 1 and "c2" in explained[0]
