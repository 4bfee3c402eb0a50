"""The MQTT adapter's topic layout and payloads: what a chat message and a read marker
look like on a broker.

Topics, under the target's ``topic_prefix`` P (default ``im``):

- ``P/u/<user>``: the user's inbox. Every device of the user (one MQTT client id
  each, ``<user>.<device>``, with a persistent session) subscribes to it. A message
  to the direct chat ``d:a:b`` is published to both users' inboxes: the peer's
  devices and the sender's other devices (and the sending device itself) get it.
- ``P/g/<name>``: group ``g:<name>``. Membership is subscription: a device gets the
  group's messages from its subscription on (``groups.py``).
- ``P/r/<user>/<conv>``: the user's read marker of ``conv``, a *retained* message, so
  the broker stores the last one per chat and hands it to every device that
  subscribes to ``P/r/<user>/#``.

Payloads are JSON objects (orjson): a chat message ``{"cmid", "from", "device",
"conv", "body"}`` (a membership change adds ``"kind": "event"``, its body protocol
v1's event object as JSON, its cmid ``op:<opid>``), a marker ``{"mid", "device"}``.
The message id is ``q:`` + the cmid (the engine's client id, the same on every
device, so a QoS 1 redelivery is a second copy of one message, never a second
message); seq is its label
(``[numbering] seq = "opaque"``).
"""

from __future__ import annotations

from typing import Any

import orjson

from imload.adapters.base import ProtocolViolation, label_of

_FIELDS = ("cmid", "from", "device", "conv", "body")


class Topics:
    """The topics of one target (its prefix) and one user."""

    __slots__ = ("groups", "inbox", "marks", "marks_filter", "prefix")

    def __init__(self, prefix: str, user: str) -> None:
        self.prefix = prefix
        self.inbox = self.inbox_of(user)
        self.marks = f"{prefix}/r/{user}/"       # + conv
        self.marks_filter = f"{prefix}/r/{user}/#"
        self.groups = f"{prefix}/g/"              # + the group's name

    def inbox_of(self, user: str) -> str:
        return f"{self.prefix}/u/{user}"

    def group(self, conv: str) -> str:
        """The topic of group ``g:<name>``."""
        return self.groups + conv[2:]


def chat_payload(cmid: str, user: str, device: str, conv: str, body: str,
                 event: bool = False) -> bytes:
    doc = {"cmid": cmid, "from": user, "device": device, "conv": conv, "body": body}
    return orjson.dumps({**doc, "kind": "event"} if event else doc)


def chat_entry(payload: bytes) -> dict[str, Any]:
    """A chat message's payload as a ``msg`` entry without ``useq``;
    ``ProtocolViolation`` (not fatal) when it is not one."""
    try:
        doc = orjson.loads(payload)
    except orjson.JSONDecodeError as e:
        raise ProtocolViolation(f"a message payload that is not JSON: {e}") from None
    if not isinstance(doc, dict) or not all(isinstance(doc.get(k), str) for k in _FIELDS):
        raise ProtocolViolation(f"a message payload without string {', '.join(_FIELDS)}: "
                                f"{payload[:80]!r}")
    mid = "q:" + doc["cmid"]
    kind, body = "text", doc["body"]
    if doc.get("kind") == "event" and doc["cmid"].startswith("op:"):
        try:
            parsed = orjson.loads(body)
        except orjson.JSONDecodeError:
            parsed = None
        if isinstance(parsed, dict):
            kind, body = "event", parsed
    return {"mid": mid, "conv": doc["conv"], "seq": label_of(mid), "from": doc["from"],
            "from_device": doc["device"], "cmid": doc["cmid"], "body": body,
            "server_ts": None, "kind": kind}


def marker_payload(mid: str, device: str) -> bytes:
    return orjson.dumps({"mid": mid, "device": device})


def marker_of(payload: bytes) -> tuple[str, str] | None:
    """(mid, device) of a read marker's payload; None for an empty one (a retained
    message cleared) or one that is not a marker."""
    if not payload:
        return None
    try:
        doc = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return None
    if isinstance(doc, dict) and isinstance(doc.get("mid"), str) and isinstance(
            doc.get("device"), str):
        return doc["mid"], doc["device"]
    return None
