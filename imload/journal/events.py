"""The journal's event schema.

One event is one flat dict (one JSON line). Every event has ``ev`` (its kind)
and ``at`` (seconds on the load host's monotonic clock, ``time.monotonic()``,
the same clock for every process on one host, the chaos timeline included).
Device events also carry ``user`` and ``device``; ``session`` numbers a
device's connections from 1 so the checker can tell them apart.

Sends are recorded as Jepsen records operations: every attempt is an invoke
(``send``), and the logical send (one ``cmid``) ends ok (``send_ok``), fail
(``send_fail``: the server definitely refused it) or info (``send_info``: the
outcome is unknown, e.g. the retry budget ran out or the run stopped while it
was in flight). A timeout is never a fail.

``EVENT_FIELDS`` lists, per kind, the fields beyond ``ev`` and ``at`` that a
writer must fill. Readers ignore fields they do not know.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from typing import Any

DEVICE = ("user", "device")

EVENT_FIELDS: dict[str, tuple[str, ...]] = {
    # a device exists in this run (written once, before it first connects)
    "device": DEVICE,
    # a connection attempt to ``url``; ``attempt`` counts attempts since the last success
    "connect": (*DEVICE, "url", "attempt"),
    # login_ok received: ``node`` serves it, ``acked`` is the server's cursor for the device
    "connected": (*DEVICE, "session", "node", "inbox_seq", "acked"),
    # a connection attempt failed (refused, 503, timeout): ``reason``; ``retry_after_ms`` or None
    "connect_failed": (*DEVICE, "reason", "retry_after_ms"),
    # an established connection ended: ``reason`` (closed by server + code, error, stop)
    "disconnected": (*DEVICE, "session", "reason"),
    # invoke: attempt ``attempt`` (1, 2, ...) to send ``cmid`` to ``conv``; body as a digest
    "send": (*DEVICE, "session", "cmid", "conv", "digest", "attempt", "ts"),
    # ok: the server acked ``cmid`` with ``mid`` and ``seq``; ``dup`` when it was a repeat
    "send_ok": (*DEVICE, "session", "cmid", "conv", "mid", "seq", "dup"),
    # fail: the server definitely refused ``cmid`` (an error frame naming it)
    "send_fail": (*DEVICE, "cmid", "conv", "reason"),
    # info: gave up on ``cmid`` without knowing if it was stored
    "send_info": (*DEVICE, "cmid", "conv", "reason"),
    # a message reached the device, ``via`` push or sync, in ``phase`` load or audit
    "deliver": (*DEVICE, "session", "mid", "conv", "seq", "useq", "from", "from_device",
                "cmid", "digest", "via", "phase"),
    # a fault started or stopped: ``action`` start|stop, ``kind``, ``target``, ``fault``
    # (an id shared by its start and stop) and ``detail`` (a dict of its settings)
    "fault": ("action", "kind", "target", "fault", "detail"),
    # the audit of one device: ``action`` start|done, ``inbox_seq`` the newest useq
    "audit": (*DEVICE, "action", "inbox_seq"),
    # a phase boundary of the run: ``phase`` load|heal|audit, ``action`` start|end
    "phase": ("phase", "action"),
    # invoke: the device marks ``conv`` read up to seq ``upto`` (``read`` frame)
    "read": (*DEVICE, "session", "conv", "upto"),
    # ok: ``read_ok``; ``upto`` is the stored marker the server answered with
    "read_ok": (*DEVICE, "session", "conv", "upto"),
    # another device of this user moved its marker: ``read_sync`` push (``from_device``)
    "read_sync": (*DEVICE, "session", "conv", "upto", "from_device"),
    # another member read a group up to ``upto``: ``receipt`` push (``reader`` is the user)
    "receipt": (*DEVICE, "session", "conv", "reader", "upto"),
    # all read markers of the user as a device fetched them (``reads_ok``): {conv: upto}
    "marks": (*DEVICE, "session", "marks", "phase"),
    # invoke: attempt ``attempt`` of op ``opid`` (``kind``, ``args`` as sent)
    "op": (*DEVICE, "session", "opid", "kind", "args", "attempt"),
    # ok / fail / info of an op, as for sends
    "op_ok": (*DEVICE, "session", "opid", "dup"),
    "op_fail": (*DEVICE, "opid", "reason"),
    "op_info": (*DEVICE, "opid", "reason"),
    # the user's stored state as a device fetched it (``state_ok``)
    "state": (*DEVICE, "session", "contacts", "pinned", "groups", "phase"),
    # the device now receives group ``conv``'s messages (``joined`` from an adapter whose
    # groups are subscriptions, MQTT: the broker acknowledged the subscription)
    "joined": (*DEVICE, "session", "conv"),
    # what the target declares about itself, written once at the start of a run:
    # ``numbering`` {"seq": ..., "useq": ...}, each one of NUMBERINGS (see docs/checker.md);
    # optional ``promises``: the anomaly kinds that are defects (imload/check/promises.py);
    # optional ``group_membership``: "members" (default: a group message is owed to every
    # device of its members) or "subscription" (only to a member's devices that had
    # ``joined``)
    "declare": ("numbering",),
    # a clock anchor, the first event of every Locust process's journal: ``source`` names
    # the process's clock (``<hostname>-<pid>``), ``wall`` is time.time() read with ``at``,
    # ``host`` the hostname (imload/users/clocksync.py, imload/journal/timeline.py)
    "clock": ("source", "wall", "host"),
    # the master's estimate of a worker's clock: ``offset_s`` = the worker's monotonic
    # clock minus the master's (the writer's), within ``rtt_s`` / 2; ``source`` is the
    # worker's, as in its ``clock`` event
    "clock_offset": ("source", "offset_s", "rtt_s"),
}

# How a server numbers a conversation (``seq``) and a user's inbox (``useq``):
# contiguous 1, 2, 3 ... (protocol v1: gaps are holes); increasing (timestamps,
# Snowflake ids: an order, gaps mean nothing); opaque (labels: equality only).
NUMBERINGS = ("contiguous", "increasing", "opaque")

# Optional fields a writer may add (readers must not require them):
#   send.seen_seq   highest seq of ``conv`` the device displayed when the user hit send
#                   (causality: the new message must be sequenced after it)
#   deliver.kind    "text" or "event"; deliver.event: for kind "event", the membership
#                   change {"op": "group_create|group_add|group_remove", "user"/"members"}
#   deliver.event_text  for kind "event" whose body is not an object: the body as text
#                   (a string as it came, anything else as JSON); then no ``event``
#   connected.url   the URL the device dialled
#   connected.node  null when the target names no node (an MQTT broker's CONNACK does not)
#   read_sync.server_ts, receipt.server_ts  the server's clock when it took the read
#                   (epoch ms), when the push carried it (protocol v1 does)
#   fault.error     why a fault could not start or stop
#   clock.role      "master" on the anchor of a master's journal (the reference clock)
#   device.e2e      true: the device seals and opens text bodies end to end (docs/e2e.md)
#   deliver.undecryptable  true: e2e on, and the body failed authentication (a server or
#                   proxy altered the ciphertext); then ``digest`` is null


_STR, _INT, _NUM = (str,), (int,), (int, float)
_OPT_STR, _OPT_INT, _OPT_NUM = (str, type(None)), (int, type(None)), (int, float, type(None))

# The type of each field wherever it appears (required or optional). bool is an int to
# isinstance, which is harmless here: the checker only compares and hashes these values.
FIELD_TYPES: dict[str, tuple[type, ...]] = {
    "ev": _STR, "at": _NUM,
    "user": _STR, "device": _STR, "session": _INT, "cmid": _STR, "conv": _STR, "mid": _STR,
    "seq": _INT, "useq": _INT, "from": _STR, "from_device": _STR, "digest": _OPT_STR,
    "via": _STR, "phase": _STR, "action": _STR, "kind": _STR, "target": _STR, "fault": _STR,
    "detail": (dict,), "reason": _STR, "retry_after_ms": _OPT_NUM, "url": _STR,
    "attempt": _INT, "node": _OPT_STR, "inbox_seq": _INT, "acked": _INT, "dup": (bool,),
    "ts": _OPT_NUM, "server_ts": _OPT_NUM, "seen_seq": _OPT_INT, "upto": _INT,
    "reader": _STR, "marks": (dict,), "opid": _STR, "args": (dict,),
    "contacts": (list,), "pinned": (list,), "groups": (list,), "event": (dict,),
    "event_text": _STR, "promises": (list,),
    "numbering": (dict,),
    "group_membership": _STR,
    "source": _STR, "wall": _NUM, "host": _STR, "offset_s": _NUM, "rtt_s": _NUM, "role": _STR,
    "e2e": (bool,), "undecryptable": (bool,),
}


def event_problem(e: Any) -> str | None:
    """Why ``e`` is not a well-formed journal event (a field missing or of the wrong type),
    or None when it is. Unknown kinds and unknown fields are allowed (newer writers)."""
    if not isinstance(e, dict):
        return f"not an object but {type(e).__name__}"
    for f in ("ev", "at"):
        if f not in e:
            return f"lacks {f!r}"
    need = EVENT_FIELDS.get(e["ev"], ()) if isinstance(e["ev"], str) else ()
    missing = [f for f in need if f not in e]
    if missing:
        return f"lacks {', '.join(repr(f) for f in missing)}"
    for f, value in e.items():
        types = FIELD_TYPES.get(f)
        if types is not None and not isinstance(value, types):
            return f"{f!r} is {type(value).__name__} {value!r:.40}, not " \
                   + " or ".join("null" if t is type(None) else t.__name__ for t in types)
    return _nested_problem(e)


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(x, str) for x in value)


def _nested_problem(e: dict[str, Any]) -> str | None:
    marks = e.get("marks")
    if marks is not None and not all(isinstance(k, str) and isinstance(v, int)
                                     for k, v in marks.items()):
        return "'marks' must map conversations to seqs"
    numbering = e.get("numbering")
    if numbering is not None and not all(k in ("seq", "useq") and v in NUMBERINGS
                                         for k, v in numbering.items()):
        return f"'numbering' must map seq and useq to one of {', '.join(NUMBERINGS)}"
    for f in ("contacts", "pinned", "groups", "promises"):
        if f in e and not _strings(e[f]):
            return f"{f!r} must be a list of strings"
    for f in ("args", "event"):  # an op's arguments, a membership change's body
        inner = e.get(f)
        if not isinstance(inner, dict):
            continue
        for k in ("user", "conv", "op"):
            if k in inner and not isinstance(inner[k], str):
                return f"'{f}.{k}' must be a string"
        if "members" in inner and not _strings(inner["members"]):
            return f"'{f}.members' must be a list of strings"
    return None


def event(ev: str, at: float, **fields: Any) -> dict[str, Any]:
    """Build a journal event, checking that the fields of its kind are present."""
    need = EVENT_FIELDS.get(ev)
    if need is None:
        raise ValueError(f"unknown journal event kind {ev!r}")
    missing = [f for f in need if f not in fields]
    if missing:
        raise ValueError(f"journal event {ev!r} lacks {', '.join(missing)}")
    return {"ev": ev, "at": at, **fields}


@lru_cache(maxsize=4096)  # one body is digested by its sender and by every device it reaches
def body_digest(body: str) -> str:
    """A short digest of a message body: the journal keeps digests, not bodies."""
    return hashlib.blake2b(body.encode(), digest_size=8).hexdigest()
