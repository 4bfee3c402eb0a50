"""Bug modes: deliberate faults a node can run with, so a drill can prove the checker catches them.

Each mode is one entry of ``BUGS`` (name -> one-line description) and is read by
the code it breaks through ``BugSet.has(name)``. To add a mode: add its line
here, then guard the broken behaviour with ``if self.bugs.has("<name>")`` where
it lives (``store.py`` for the write path, ``node.py`` for the push path,
``session.py`` for replies), and add a test to ``tests/test_reference_server_bugs.py``
that shows the node misbehaving in exactly that way (a security mode: the ``imload
probe`` check it breaks, in ``tests/test_probe.py``; a group mode, in
``tests/test_probe_groups.py``). Each mode is off unless named.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable

import jwt

BUGS: dict[str, str] = {
    "lose-offline": (
        "a pushed message is removed from the recipient's inbox when the node pushes it, "
        "so a push lost in flight, or another device that was offline, never gets it"
    ),
    "no-dedup": (
        "the (user, cmid) lookup is skipped, so a retried send stores a new message; the node "
        "also drops 1% of send_acks (seeded) so that clients do retry"
    ),
    "racy-seq": (
        "the node reads the conversation's seq, awaits, then writes seq+1 outside the atomic "
        "script, so two concurrent sends to one conversation can share a seq"
    ),
    "lww-read": (
        "a read marker is overwritten by the last read stored instead of kept at the maximum, "
        "so a late, lower read moves it down"
    ),
    "op-reorder": (
        "the ops of one connection that arrive together (a client's pipelined flush of its "
        "offline queue) are kept on a list and applied newest first, so they land in reverse "
        "order (reference_server/opbatch.py)"
    ),
    "stale-members": (
        "each node fans a group message out to the group's members as it cached them, "
        "refreshing that list only every few seconds, so a member added meanwhile never "
        "gets the messages sent in the seconds after the join (acked, not even in a sync)"
    ),
    "alg-none": (
        "a token whose header says alg none is taken without a signature: anyone logs in as "
        "anyone (imload probe: auth.alg_none)"
    ),
    "sequential-mids": (
        "message ids are m<N> from the global counter, so any user measures the platform's "
        "traffic between two of its own messages (imload probe: leaks.sequential_mids)"
    ),
    "server-header": (
        "the handshake names websockets' and Python's versions (imload probe: "
        "leaks.server_header)"
    ),
    "unbounded-sync": (
        "a sync_batch holds up to limit entries whatever their size, so a big inbox makes a "
        "reply past the clients' frame limit (imload probe: abuse.sync_bytes)"
    ),
    "no-login-deadline": (
        "a connection that never logs in is held until the idle close, three heartbeats "
        "(imload probe: abuse.login_deadline)"
    ),
    "no-signature-check": (
        "a token's claims are read without checking its signature: a token signed with any "
        "key, or none, logs in (imload probe: auth.other_secret, auth.alg_none)"
    ),
    "skip-expiry": (
        "a token's expiry is not checked: an expired token logs in (imload probe: "
        "auth.expired)"
    ),
    "any-audience": (
        "a token's audience is not checked: a token minted for another service that shares "
        "the secret logs in (imload probe: auth.wrong_audience)"
    ),
    "frame-user": (
        "a frame's 'user' field, when it names a user, acts instead of the token's user: "
        "anyone sends, syncs, reads markers and state as anyone (imload probe: "
        "auth.impersonation, authz.foreign_sync, authz.others_markers, authz.others_state)"
    ),
    "open-conversations": (
        "send and read skip the membership check: anyone writes to, and moves read markers "
        "of, any conversation (imload probe: authz.foreign_send, authz.foreign_read)"
    ),
    "unbounded-outbound": (
        "a client that stops reading is never shed: what is queued for it grows without "
        "bound (imload probe: abuse.slow_reader)"
    ),
    "no-takeover": (
        "a newer login of a device does not close the older sessions: each login of a "
        "storm stays open (imload probe: abuse.takeover_storm)"
    ),
    "open-groups": (
        "anyone adds anyone to a group (no consent), any member removes anyone (the owner "
        "too) and a group has no size limit (imload probe: authz.add_strangers, "
        "authz.remove_owner, abuse.group_size)"
    ),
    "no-fanout-limit": (
        "group messages and group ops draw on no fan-out budget: one user makes any number "
        "of inbox writes per second (imload probe: abuse.fanout)"
    ),
    "per-connection-limits": (
        "requests are limited per connection, as before issue #15: sends draw on a bucket "
        "of the connection (--device-rate, --device-burst) that a reconnect refills; ops, "
        "pings, syncs and state requests are not limited (imload probe: "
        "abuse.reconnect_resets_limit, abuse.flood_op, abuse.flood_ping, abuse.flood_sync, "
        "abuse.flood_state)"
    ),
    "no-login-limit": (
        "failed logins are neither counted nor refused: an address tries tokens as fast as "
        "it likes (imload probe: abuse.failed_logins)"
    ),
    "terse-events": (
        "membership events are worded unlike docs/protocol.md: the body is a JSON string, "
        "not an object, and names no member list (group_create: '{\"op\": ..., \"user\": "
        "creator}' as text; group_add/remove: 'group_add <user> by <actor>')"
    ),
    "tamper-body": (
        "every message body is stored with one character changed (the middle one, to another "
        "letter), as a store or proxy that alters bytes would: a plain body is delivered "
        "altered (corrupted), an end-to-end sealed one fails authentication (undecryptable)"
    ),
}

_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def tampered(body: str) -> str:
    """``body`` with its middle character changed to another letter or digit (one that an
    envelope's base64 still decodes: it is its ciphertext, not its form, that is broken)."""
    if not body:
        return "?"
    i = len(body) // 2
    other = _B64[(_B64.find(body[i]) + 1) % len(_B64)]
    return body[:i] + other + body[i + 1:]


class UnknownBug(ValueError):
    """A bug mode name that is not in ``BUGS``."""


class BugSet:
    """The bug modes a node runs with; empty for a correct node."""

    def __init__(self, names: Iterable[str] = ()) -> None:
        names = frozenset(names)
        unknown = sorted(names - BUGS.keys())
        if unknown:
            raise UnknownBug(f"unknown bug mode {', '.join(unknown)}; known: {known_bugs()}")
        self.names = names

    def has(self, name: str) -> bool:
        assert name in BUGS, f"bug mode {name!r} is not registered in BUGS"
        return name in self.names

    def token_skips(self, token: object) -> frozenset[str]:
        """What the token modes leave unchecked of ``token`` (``verify_token``'s ``skip``):
        ``alg-none`` the signature of a token whose header says alg none,
        ``no-signature-check`` every signature, ``skip-expiry`` the expiry,
        ``any-audience`` the audience. Nothing on a correct node."""
        skip = {check for mode, check in (("no-signature-check", "signature"),
                                          ("skip-expiry", "exp"), ("any-audience", "aud"))
                if mode in self.names}
        if "alg-none" in self.names and isinstance(token, str):
            with contextlib.suppress(jwt.InvalidTokenError):
                if jwt.get_unverified_header(token).get("alg") == "none":
                    skip.add("signature")
        return frozenset(skip)

    def __bool__(self) -> bool:
        return bool(self.names)

    def __repr__(self) -> str:
        return f"BugSet({sorted(self.names)})"


def known_bugs() -> str:
    """The registered bug modes, comma-separated, for error messages and --help."""
    return ", ".join(sorted(BUGS))
