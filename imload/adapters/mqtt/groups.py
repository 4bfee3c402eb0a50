"""Groups over MQTT: a topic per group, membership = subscriptions.

Group ``g:<name>`` is the topic ``P/g/<name>`` (``topics.py``). A device receives the
group's messages once the broker has acknowledged its subscription to that topic; it
then tells the engine ``joined {conv}``, which the journal keeps and the checker reads:
the adapter declares ``group_membership = "subscription"``, so a group message is owed
only to member devices that had joined before it was sent (a topic keeps no history;
imload/check/subscriptions.py).

``op {rid, opid, kind: group_create | group_add | group_remove, args}``
    The actor's device subscribes first when it has not (creating or adding on a group
    it is not in yet), then publishes the change at QoS 1 to the group's topic, as an
    ``event`` message (cmid ``op:<opid>``, body protocol v1's event object), and the same
    message to the inbox of each user it concerns: the members of a new group (the actor
    included, for its other devices), the user added or removed. ``op_ok`` when every
    PUBACK is in. MQTT has no access control per group here (Mosquitto's default ACL
    lets any device subscribe): a membership change is the clients' word, which is what
    the checker expects anyway.
``send {conv: g:...}``
    PUBLISH to the group's topic (at the target's ``qos``), once the device subscribed
    (the SUBSCRIBE may still be on the wire: the broker handles a connection's packets
    in order); ``send_ack`` on its PUBACK. A group the device never subscribed to:
    ``error forbidden``.
Inbound: a membership change in the inbox is handed over as the group's event message,
and a change that adds this user subscribes the device, one that removes it
unsubscribes it. A session the broker did not keep subscribes again to every group
the device is in (``subscriptions``).
"""

from __future__ import annotations

from typing import Any

import orjson

from imload.adapters.mqtt import codec
from imload.adapters.mqtt.core import MqttCore, Pending
from imload.adapters.mqtt.topics import chat_payload
from imload.protocol.frames import GROUP_OPS


class Groups(MqttCore):
    """The groups layer of the MQTT adapter; see the module docstring."""

    @classmethod
    def group_membership(cls, options: dict[str, Any]) -> str:
        return "subscription"

    def subscriptions(self) -> list[tuple[str, int]]:
        """What a new session subscribes to: the inbox, the markers, every group."""
        return [(self.topics.inbox, self.qos), (self.topics.marks_filter, 1),
                *((self.topics.group(conv), self.qos) for conv in sorted(self.groups))]

    def _subscribe_group(self, conv: str) -> bytes:
        """SUBSCRIBE to group ``conv``; it counts as joined at the SUBACK."""
        self.groups.add(conv)
        pid = self._next_pid()
        self.waits[pid] = ("group", conv)
        return codec.build_subscribe(pid, [(self.topics.group(conv), self.qos)],
                                     level=self.level)

    def _joined(self, convs: list[str]) -> list[dict[str, Any]]:
        return [{"t": "joined", "conv": conv} for conv in convs]

    # ------------------------------------------------------------ intents
    def _op(self, frame: dict[str, Any]) -> tuple[bytes, ...]:
        rid, kind, opid = frame.get("rid"), frame.get("kind"), frame.get("opid")
        args = frame.get("args") if isinstance(frame.get("args"), dict) else {}
        if kind not in GROUP_OPS:
            self._error(rid, "unsupported", f"op {kind!r} has no MQTT mapping (groups only: "
                        "group_create, group_add, group_remove)")
            return ()
        conv, user = args.get("conv"), args.get("user")
        members = [m for m in args.get("members", ()) if isinstance(m, str)]
        if (not isinstance(conv, str) or not conv.startswith("g:") or "/" in conv
                or "#" in conv or "+" in conv or not isinstance(opid, str)
                or (kind != "group_create" and not isinstance(user, str))):
            self._error(rid, "bad_frame", f"{kind} needs a g: conv (no / # +) and an opid"
                        f"{'' if kind == 'group_create' else ' and a user'}")
            return ()
        out = [] if conv in self.groups or kind == "group_remove" else [
            self._subscribe_group(conv)]
        told = sorted({*members, self.user}) if kind == "group_create" else [user]
        body = orjson.dumps({"op": kind, "user": self.user, "members": told}
                            if kind == "group_create" else
                            {"op": kind, "user": user, "by": self.user}).decode()
        payload = chat_payload(f"op:{opid}", self.user, self.device, conv, body, event=True)
        p = Pending("op", rid, conv, cmid=opid)
        topics = [self.topics.group(conv), *(self.topics.inbox_of(u) for u in told)]
        out.extend(self._publish_1(p, t, payload) for t in topics)
        return tuple(out)

    def _send_group(self, rid: Any, cmid: str, conv: str, body: str) -> tuple[bytes, ...]:
        if conv not in self.groups:
            self._error(rid, "forbidden", f"{self.user}/{self.device} did not subscribe to "
                        f"{conv} (no membership change seen)")
            return ()
        payload = chat_payload(cmid, self.user, self.device, conv, body)
        return self._publish_message(rid, cmid, conv, payload, (self.topics.group(conv),))

    # ------------------------------------------------------------ inbound
    def _membership(self, entry: dict[str, Any]) -> None:
        """A membership change in the inbox: subscribe to a group this user is now in,
        unsubscribe from one it left."""
        body, conv = entry["body"], entry["conv"]
        if entry["kind"] != "event" or not isinstance(body, dict):
            return
        op = body.get("op")
        mine = (self.user in body.get("members", ()) if op == "group_create"
                else body.get("user") == self.user)
        if not mine:
            return
        if op == "group_remove":
            if conv in self.groups:
                self.groups.discard(conv)
                self._write(codec.build_unsubscribe(self._next_pid(), [self.topics.group(conv)],
                                                    level=self.level))
        elif conv not in self.groups:
            self._write(self._subscribe_group(conv))
