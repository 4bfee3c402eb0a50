"""MQTT 3.1.1 and 5 over TCP as an imload adapter (``mqtt``), sans-I/O.

``adapter.py`` is the adapter; ``codec.py`` builds the packets a client writes and is
the codec's entry point (its docstring says why it is hand-written); ``reader.py``
reads the broker's byte stream, in chunks of any size, into the packets of
``packets.py``; ``wire.py`` holds MQTT's integers, strings and MQTT 5 properties;
``topics.py`` the topic layout and payloads; ``dynsec.py`` accounts on Mosquitto's
dynamic security plugin; ``core.py`` the state the layers share; ``groups.py`` groups.

Options, from the target's ``[mqtt]`` table: ``version`` (5, or 4 for 3.1.1), ``qos``
(1: at least once; 0: at most once), ``session_expiry_s`` (MQTT 5; 3.1.1 keeps
the session while ``clean_session`` is false), ``keepalive_s``, ``topic_prefix``,
``register`` with ``admin_user`` / ``admin_password`` (Mosquitto's dynamic security
plugin: docs/backends/mosquitto.md).

Mapping (engine vocabulary: docs/protocol.md)
---------------------------------------------
``login``
    CONNECT with client id ``<user>.<device>``, the user's name and password
    (``credential``), no clean start, a session that outlives the connection. A new
    session subscribes to the inbox (at ``qos``) and the read markers; a session the
    broker kept (``session present``) has them, and the QoS 1 messages published
    while the device was away follow at once. ``login_ok`` with ``hb_ms`` half the
    keep alive, so the engine's pings keep the connection alive. A broker that
    refuses the user (no account yet) while ``register`` is on: ``error internal``,
    and the next connection is the admin's: it publishes ``createClient`` to
    ``$CONTROL/dynamic-security/v1``, reads the answer ("already exists" is fine:
    another device of the user made it), disconnects and answers ``error internal``
    again; the engine's next login is the user's. A new account costs three
    connections, an existing one (a device's next login, the audit's) one.
``send {cmid, conv: d:a:b, body}``
    PUBLISH to both users' inboxes (``topics.py``). QoS 1: ``send_ack`` when both
    PUBACKs are in; an unacknowledged PUBLISH is written again, flagged DUP, when the
    broker still has the session at the next login (MQTT 4.4), otherwise the engine's
    own retry sends it again. QoS 0: ``send_ack`` once written (at most once).
``msg``
    a PUBLISH on the inbox, acknowledged (QoS 1) before it is handed over. Copies are
    not dropped: a redelivered message comes again with its one mid, and the engine
    counts it as a wire duplicate.
``sync``
    MQTT keeps no history: the session's queue is the catch-up, and it arrives as
    pushes. A sync is a barrier: a PINGREQ, answered with an empty batch at its
    PINGRESP. The broker answers in order, so what it wrote before (the queued
    messages its in-flight window let out) has arrived by then; the audit syncs
    again while a round brings pushes, so a queue longer than the window drains too.
``read {conv}`` / ``read_sync`` / ``reads``
    A retained PUBLISH of the newest message from someone else held in the chat (a
    direct chat or a group; ``upto``: its label) on the user's marker topic of it;
    ``read_ok`` on its PUBACK. Another device's marker, live, is ``read_sync``.
    ``reads`` subscribes to the markers again (the broker sends the retained ones) and
    answers after a PINGRESP: the broker answers in order, so every retained marker
    has arrived by then.
``op`` (group_create, group_add, group_remove), ``send`` to a ``g:`` conv
    Groups are topics, membership is subscription: ``groups.py``.
``ping``: PINGREQ / PINGRESP. Other ops, ``state``: ``error unsupported``.
"""

from __future__ import annotations

__all__ = ["MqttAdapter"]


def __getattr__(name: str) -> object:
    if name == "MqttAdapter":  # the codec alone does not load the adapter
        from imload.adapters.mqtt.adapter import MqttAdapter

        return MqttAdapter
    raise AttributeError(name)
