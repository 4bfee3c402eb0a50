"""Authorisation: what a logged-in user may touch. The probe's first user ``a`` tries the
conversation of its other two users ``b`` and ``c`` (write to it, move a read marker of
it, sync it), and the read markers and state of ``b`` (read them, move them), by naming
the conversation or the other user in a frame. A sound node answers ``forbidden`` or
ignores the naming field: the user is the token's, never a frame's.
"""

from __future__ import annotations

from typing import Any

from imload.probe.base import FAIL, PASS, Check, Finding, Probe, answered
from imload.protocol import direct_conv


def foreign_send(p: Probe) -> Finding:
    a, b, c = p.users
    with p.logged_in(a) as link:
        reply = link.request("send", cmid="probe-1", conv=direct_conv(b, c), body="not mine")
    if reply.get("t") == "send_ack":
        return Finding(FAIL, f"{a} stored a message in {direct_conv(b, c)}: {reply.get('mid')}")
    return answered(reply)


def foreign_read(p: Probe) -> Finding:
    a, b, c = p.users
    with p.logged_in(a) as link:
        reply = link.request("read", conv=direct_conv(b, c), upto=1)
    if reply.get("t") == "read_ok":
        return Finding(FAIL, f"{a} moved a read marker of {direct_conv(b, c)}")
    return answered(reply)


def _theirs(p: Probe, tag: str) -> tuple[str, dict[str, Any]]:
    """A message ``b`` stores in the conversation of ``b`` and ``c`` (``b`` also reads it):
    the conversation and the ``send_ack``."""
    _, b, c = p.users
    conv = direct_conv(b, c)
    with p.logged_in(b) as link:
        ack = link.request("send", cmid=f"probe-{tag}", conv=conv, body="theirs")
        if ack.get("t") == "send_ack":
            link.request("read", conv=conv, upto=ack.get("seq", 1))
    return conv, ack


def foreign_sync(p: Probe) -> Finding:
    a, b, _ = p.users
    conv, ack = _theirs(p, "sync")
    with p.logged_in(a) as link:
        for naming in ({"conv": conv}, {"user": b}):
            reply = link.request("sync", after=0, limit=100, **naming)
            leaked = [m for m in reply.get("msgs", []) if m.get("conv") == conv]
            if leaked:
                return Finding(FAIL, f"a sync naming {naming} answered {len(leaked)} "
                                     f"messages of {conv} (e.g. {leaked[0].get('mid')})")
    return Finding(PASS, f"a sync naming {conv} or {b} answered only {a}'s inbox")


def others_markers(p: Probe) -> Finding:
    """``a`` asks for ``b``'s markers, and moves ``b``'s marker of their own conversation."""
    a, b, _ = p.users
    conv, _ = _theirs(p, "marks")
    ours = direct_conv(a, b)
    with p.logged_in(a) as link:
        marks = link.request("reads", user=b).get("marks", {})
        if isinstance(marks, dict) and conv in marks:
            return Finding(FAIL, f"reads naming {b} answered {b}'s marker of {conv}")
        ack = link.request("send", cmid="probe-marks-ours", conv=ours, body="to move")
        link.request("read", conv=ours, upto=ack.get("seq", 1), user=b)
    with p.logged_in(b) as link:
        moved = link.request("reads").get("marks", {})
    if isinstance(moved, dict) and moved.get(ours, 0) > 0:
        return Finding(FAIL, f"a read naming {b} moved {b}'s marker of {ours} to "
                             f"{moved[ours]}")
    return Finding(PASS, f"reads and read naming {b} touched only {a}'s markers")


def others_state(p: Probe) -> Finding:
    """``a`` asks for ``b``'s state, and pins ``b``'s conversation with ``c`` for ``b``."""
    a, b, c = p.users
    conv = direct_conv(b, c)
    with p.logged_in(b) as link:
        link.request("op", opid=f"probe-contact-{p.tag}", kind="contact_add", args={"user": c})
    with p.logged_in(a) as link:
        state = link.request("state", user=b)
        if c in (state.get("contacts") or ()):
            return Finding(FAIL, f"state naming {b} answered {b}'s contacts: "
                                 f"{state.get('contacts')}")
        link.request("op", opid=f"probe-pin-{p.tag}", kind="pin",
                     args={"conv": conv, "pinned": True}, user=b)
    with p.logged_in(b) as link:
        pinned = link.request("state").get("pinned") or ()
    if conv in pinned:
        return Finding(FAIL, f"an op naming {b} pinned {conv} in {b}'s state")
    return Finding(PASS, f"state and op naming {b} touched only {a}'s state")


AUTHZ_CHECKS: tuple[Check, ...] = (
    Check("authz.foreign_send", "stores a message in a conversation the sender is not in",
          foreign_send),
    Check("authz.foreign_read", "moves a read marker of a conversation the reader is not in",
          foreign_read),
    Check("authz.foreign_sync", "answers a sync naming a conversation (or user) with "
          "another conversation's messages", foreign_sync),
    Check("authz.others_markers", "reads or moves another user's read markers when a frame "
          "names that user", others_markers),
    Check("authz.others_state", "reads or changes another user's state when a frame names "
          "that user", others_state),
)
