"""XMPP over WebSocket (RFC 7395) as an imload adapter, sans-I/O.

One ``XmppAdapter`` per simulated device, alive across the device's connections.
Each WebSocket text message holds one top-level element, parsed on its own
(``parsing.py``); what the client writes comes from string templates
(``build.py``). Options, from the target's ``[xmpp]`` table: ``domain`` (required),
``register`` (create the account by XEP-0077 when auth says not-authorized),
``muc`` (the MUC service of the groups' rooms, default ``conference.<domain>``),
``smacks`` (XEP-0198 when offered, default true). The
account is ``identity.user`` with password ``identity.token``
(``XmppAdapter.credential``: HMAC-SHA256 of the user under the target's secret);
the resource is ``identity.device``. User names should be lowercase: servers
nodeprep JIDs, so ``Bob`` would come back as ``bob``.

Mapping (engine vocabulary: docs/protocol.md)
---------------------------------------------
``login {rid}``
    ``<open/>``; SASL SCRAM-SHA-1 if offered, else PLAIN; ``<open/>`` again;
    XEP-0198 ``<resume/>`` when an earlier connection enabled resumption, else bind
    (resource = device), ``<enable resume="true"/>`` (``smacks`` on and offered),
    carbons (XEP-0280) and ``<presence/>``; then ``login_ok {rid, user, device,
    node: domain, server_ts: None, hb_ms: 0, inbox_seq, acked}`` with both counters
    the adapter's useq. Details and the resume rules: ``handshake.py``. Auth refused
    (and no registration to try): ``error unauthenticated`` and ``<close/>``.
``send {rid, cmid, conv: "d:a:b", body}``
    ``<message to="PEER@domain" type="chat" id=cmid><body/><origin-id id=cmid/>``
    and ``<r/>``. With XEP-0198 on, ``send_ack {rid, cmid, mid: "x:"+cmid, conv,
    seq: mid, server_ts: None, dup: False}`` comes when the server's ``<a h/>``
    covers the message (every stanza, message, iq or presence, counts toward h).
    Without it the ack is given as soon as the message is written: **at most once**,
    a message on a connection that dies is lost with its ack already given.
    A ``send`` whose cmid is still unacknowledged in the stream writes nothing
    again: its ack answers the new attempt. ``g:`` convs: a groupchat message to the
    group's room, acked by the room's echo (``groups.py``).
``sync {rid, limit}``
    XEP-0313 query of the user's archive, then of each room's (``archives.py``),
    ``limit`` per page, after the MAM cursor;
    results as ``sync_batch {rid, msgs, upto: useq, more: not complete}``, the cursor
    moved to ``<last/>``. A page of messages already delivered is not handed over:
    the next page is fetched at once (the engine only follows ``more`` while
    ``upto`` grows). A brand-new adapter has no cursor and reads the archive from its
    start, as protocol v1's first sync reads the inbox from useq 0: the checker owes
    every device of a member every message, also those sent before its first login,
    and its own sent messages (XMPP does not echo them: they come from the archive).
    So use accounts that are fresh for the run: an older run's messages would be
    phantoms. The engine's ``after`` is not used (useqs are the adapter's, not the
    server's). A server without MAM (``<error type="cancel"/>``): empty batches.
``ack``
    nothing on the wire (no server-side inbox cursor).
``ping {rid, ts}``
    XEP-0199 ping iq; its result (or error) -> ``pong {rid, ts, server_ts: None}``.
``op`` (group_create, group_add, group_remove)
    XEP-0045 rooms: ``groups.py`` (names, nicks, how a change is told: ``rooms.py``).
    Other op kinds, and ``state``: ``error {rid, code: "unsupported"}``.
``read``, ``reads``
    XEP-0333 chat markers: ``markers.py``.

Inbound: a chat ``<message/>`` with a ``<body/>`` (live, a carbon ``<received/>`` or
``<sent/>``, or a MAM result) -> ``msg {mid: "x:"+origin-id, conv: d:<sorted
users>, seq: mid, from, from_device: resource, cmid, body, server_ts: None, useq,
kind: "text"}``; a message from the user's own JID (a sent carbon, an archived
outgoing message) is from the user, with the sending device's resource. useqs are
the adapter's counter (1, 2, 3 ... never reused); a mid is delivered once. Messages
without a body (chat states, receipts) mean nothing; markers: ``markers.py``. The server's
``<r/>`` is answered ``<a h/>`` (inbound messages, presences and iqs counted), its
pings with a result. ``<close/>`` and ``<stream:error/>``: fatal
``ProtocolViolation``; unreadable XML: ``ProtocolViolation``.

Cost, measured on the 2-core development machine with a typical chat ``<message/>``
(body, origin-id, stanza-id; best of 5 runs of 50k): parsing and reading it takes
7.8-11.9 us with lxml (the parse alone 5.3 us) and 9.9-11.3 us with xml.etree (the
parse alone 9.5 us): lxml, hardened, is kept. Building one costs 1.8 us by template,
7.4 us with lxml, 20-23 us with xml.etree: templates. Through the whole adapter: a
live message to a ``msg`` event 14 us, a ``send`` to ``<message/>`` + ``<r/>`` 3 us,
an ``<a h/>`` acking two messages 8 us.
"""

from __future__ import annotations

from imload.adapters.xmpp.adapter import XmppAdapter

__all__ = ["XmppAdapter"]
