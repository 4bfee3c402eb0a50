"""The probe's group checks: can a group be used to reach users who never agreed, to take
a group over, or to amplify one user's traffic (docs/security.md)?

- ``authz.add_strangers``: the probe's ``b`` agrees to join ``a``'s groups (``b`` adds
  ``a`` as a contact); ``a`` then makes a group naming ``c``, who never agreed, and adds
  ``c`` to a group of ``a`` and ``b``. It fails when ``c``'s own ``state`` lists either
  group (a reply alone is not taken as proof either way).
- ``authz.remove_owner``: ``b`` and ``c`` agree; ``a`` makes a group of the three; ``b``
  (a member, not the owner) removes ``a`` and then ``c``; then ``a`` names ``b`` an admin
  (``group_role``) and ``b`` removes ``a`` again. It fails when either is no longer in the
  group by their own ``state``. A target without the role op (any refusal of it) is
  judged on the first part alone, and the evidence says so.
- ``abuse.group_size``: ``a`` asks for one group of 1,000 members (the most one
  ``group_create`` may name): ``b`` and ``c`` (who agreed) and 997 names nobody uses. It
  fails when the group is made. A pass says a group of 1,000 mostly made of users who
  never agreed cannot be made; it cannot tell a size limit from the consent rule (that
  would take 1,000 accounts that agreed, more than the probe makes).
- ``abuse.fanout``: ``FANOUT_MEMBERS - 1`` accounts of the probe's agree, ``a`` makes a
  group of them and sends it up to ``FANOUT_BUDGET`` short messages as fast as the target
  answers (``limits.flood``, ``WINDOW`` at a time). It passes when the target refuses one
  (any error: a fan-out budget, a send rate) before the budget is spent, with how many
  inbox writes it took; it fails when all are stored (``FANOUT_BUDGET x FANOUT_MEMBERS``
  inbox writes, shown with the time). A target that closes the connection instead: n/a.

Every account is the probe's own (minted with the target's secret, named after the
probe's tag); the most a check sends is the fan-out one: ``FANOUT_MEMBERS`` logins and
``FANOUT_BUDGET`` messages of 8 bytes, to one node.
"""

from __future__ import annotations

from typing import Any

from imload.probe.checks import FAIL, PASS, Check, Finding, Probe, ProbeError
from imload.probe.limits import flood
from imload.probe.link import Link

GROUP_SIZE = 1000  # members asked for by abuse.group_size (group_create names at most 999)
FANOUT_MEMBERS = 100  # the group abuse.fanout writes to: a and 99 accounts that agreed
FANOUT_BUDGET = 300  # messages abuse.fanout may send: 30,000 inbox writes at most
WINDOW = 32  # messages abuse.fanout has on the wire at once


def _names(p: Probe, what: str, n: int) -> list[str]:
    """``n`` more user names of this probe run (``probe_<tag>_<what><i>``)."""
    return [p.name(f"{what}{i}") for i in range(n)]


def _op(link: Link, opid: str, kind: str, **args: Any) -> dict[str, Any]:
    return link.request("op", opid=opid, kind=kind, args=args)


def _agree(p: Probe, owner: str, users: list[str]) -> None:
    """Each of ``users`` adds ``owner`` as a contact: the consent a group may ask for."""
    for user in users:
        with p.logged_in(user) as link:
            reply = _op(link, f"probe-agree-{owner}", "contact_add", user=owner)
        if reply.get("t") != "op_ok":
            raise ProbeError(f"{user} could not add {owner} as a contact: {reply}")


def _cast(p: Probe, agreed: int) -> tuple[str, str, str]:
    """The probe's users ``a, b, c``, the first ``agreed`` of ``b, c`` having agreed to
    join ``a``'s groups."""
    a, b, c = p.users
    _agree(p, a, [b, c][:agreed])
    return a, b, c


def _groups_of(p: Probe, user: str) -> list[str]:
    with p.logged_in(user) as link:
        state = link.request("state")
    groups = state.get("groups")
    if state.get("t") != "state_ok" or not isinstance(groups, list):
        raise ProbeError(f"the target has no state for {user}: {state}")
    return groups


def _group(p: Probe, link: Link, what: str, members: list[str]) -> str:
    """A new group of ``members`` and the link's user, made through ``link``."""
    conv = f"g:{p.name(what)}"
    reply = _op(link, f"probe-{what}", "group_create", conv=conv, members=members)
    if reply.get("t") != "op_ok":
        raise ProbeError(f"the target refused a group of members who agreed: {reply}")
    return conv


def _said(reply: dict[str, Any]) -> str:
    if reply.get("t") == "error":
        return f"{reply.get('code')}: {str(reply.get('msg', ''))[:120]}"
    return str(reply.get("t"))


def add_strangers(p: Probe) -> Finding:
    a, b, c = _cast(p, 1)
    with p.logged_in(a) as link:
        named = f"g:{p.name('strangers')}"
        created = _op(link, "probe-strangers", "group_create", conv=named, members=[b, c])
        conv = _group(p, link, "agreed", [b])
        added = _op(link, "probe-add-stranger", "group_add", conv=conv, user=c)
    joined = sorted({named, conv} & set(_groups_of(p, c)))
    if joined:
        return Finding(FAIL, f"{c}, who never agreed, is now in {', '.join(joined)} "
                             f"(group_create answered {_said(created)}, group_add "
                             f"{_said(added)})")
    return Finding(PASS, f"group_create naming {c} answered {_said(created)}; group_add of "
                         f"{c} answered {_said(added)}; {c} is in neither")


def remove_owner(p: Probe) -> Finding:
    a, b, c = _cast(p, 2)
    with p.logged_in(a) as link:
        conv = _group(p, link, "owned", [b, c])
    with p.logged_in(b) as link:
        replies = {victim: _op(link, f"probe-remove-{victim}", "group_remove", conv=conv,
                               user=victim) for victim in (a, c)}
    gone = [victim for victim in (a, c) if conv not in _groups_of(p, victim)]
    said = "; ".join(f"removing {v} answered {_said(r)}" for v, r in replies.items())
    if gone:
        return Finding(FAIL, f"{b}, a member but not the owner, removed {', '.join(gone)} "
                             f"from {conv} ({said})")
    with p.logged_in(a) as link:
        named = _op(link, "probe-admin", "group_role", conv=conv, user=b, role="admin")
    if named.get("t") != "op_ok":
        return Finding(PASS, f"{said}; both still in {conv} (naming {b} an admin answered "
                             f"{_said(named)}: the admin rule not checked)")
    with p.logged_in(b) as link:
        as_admin = _op(link, "probe-admin-remove", "group_remove", conv=conv, user=a)
    if conv not in _groups_of(p, a):
        return Finding(FAIL, f"{b}, an admin of {conv}, removed its owner {a} ({said}; as "
                             f"an admin: {_said(as_admin)})")
    return Finding(PASS, f"{said}; as an admin, removing {a} answered {_said(as_admin)}; "
                         f"both still in {conv}")


def group_size(p: Probe) -> Finding:
    a, b, c = _cast(p, 2)
    nobody = _names(p, "x", GROUP_SIZE - 3)
    conv = f"g:{p.name('big')}"
    with p.logged_in(a) as link:
        reply = _op(link, "probe-big", "group_create", conv=conv, members=[b, c, *nobody])
    if reply.get("t") == "op_ok" and conv in _groups_of(p, b):
        return Finding(FAIL, f"made {conv} of {GROUP_SIZE} members, {len(nobody)} of them "
                             "users who never agreed (nor ever logged in)")
    return Finding(PASS, f"a group of {GROUP_SIZE} members answered {_said(reply)}")


def fanout(p: Probe) -> Finding:
    a = p.users[0]
    members = _names(p, "m", FANOUT_MEMBERS - 1)
    _agree(p, a, members)
    with p.logged_in(a) as link:
        conv = _group(p, link, "fanout", members)
        f = flood(link, lambda rid, i: {"t": "send", "rid": rid, "cmid": f"probe-fan-{i}",
                                        "conv": conv, "body": "fan-out!"},
                  "send_ack", FANOUT_BUDGET, chunk=WINDOW, stop=None)
    if f.closed is not None:
        raise ProbeError(f"the target closed the connection ({f.closed}) during the fan-out")
    stored = f.answers.get("send_ack", 0)
    writes = f"{stored * FANOUT_MEMBERS:,} inbox writes in {f.seconds:.2f} s"
    if f.refused is None:
        return Finding(FAIL, f"stored all {stored} messages to a group of {FANOUT_MEMBERS}: "
                             f"{writes}, none refused")
    retry = f.refused.get("retry_after_ms")
    return Finding(PASS, f"refused after {stored} messages ({writes}): {_said(f.refused)}, "
                         f"retry_after_ms {retry}")


GROUP_CHECKS: tuple[Check, ...] = (
    Check("authz.add_strangers", "adds users who never agreed to a group (a group is a way "
          "to reach anyone)", add_strangers),
    Check("authz.remove_owner", "lets any member remove the group's owner or other members, "
          "or an admin remove the owner (a group can be taken over)", remove_owner),
    Check("abuse.group_size", f"makes a group of {GROUP_SIZE} members at once, most of them "
          "users who never agreed", group_size),
    Check("abuse.fanout", f"stores {FANOUT_BUDGET} messages to a group of {FANOUT_MEMBERS} "
          "as fast as one user sends them (inbox writes without a fan-out budget)", fanout),
)

__all__ = ["FANOUT_BUDGET", "FANOUT_MEMBERS", "GROUP_CHECKS", "GROUP_SIZE"]
