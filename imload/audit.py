"""The audit: after the load and the heal, every device reconnects and syncs to the end.

Without it "lost" and "not yet delivered" look the same (docs/checker.md,
"How the journal is read"). Each device of the journal logs in again as itself, syncs its
inbox from the highest contiguous useq the journal shows it holding (what a
well-built client would sync from), acks, and every message it receives, synced
or pushed, is recorded as a ``deliver`` event with ``phase = "audit"`` (membership
changes with ``kind`` and ``event``, as the clients record them). A protocol without
stored history (MQTT) catches up by pushes, so the audit syncs again while a round
brings any.

It speaks the target's protocol through the same adapter as the load
(``imload/adapters``): the audit's requests are the engine's intents (``login``,
``sync``, ``ack``, ``reads``, ``state``) and its replies the engine's events.

Then it fetches the user's final read markers (``reads``, recorded as a
``marks`` event) and stored state (``state``, recorded as a ``state`` event),
both with ``phase = "audit"``: the read_sync and op checks compare them with
what the load did. A server that answers ``unknown_type`` to either (one that
predates them), or whose adapter answers ``unsupported`` (a protocol without
them), is not an audit failure: that fetch is skipped and nothing is recorded for
it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from websockets.exceptions import WebSocketException

from imload.adapters import Adapter, make_adapter
from imload.audit_link import AuditLink, dial
from imload.client.e2e import KeyDirectory, Sealer
from imload.journal import body_digest, event

AUDIT_SESSION = 0  # the audit's connection is session 0 of every device
SYNC_LIMIT = 500


@dataclass
class AuditResult:
    devices: int = 0
    synced: int = 0
    messages: int = 0
    failed: list[str] = field(default_factory=list)  # "user/device: why"


AUDIT_KINDS = ("device", "deliver")  # what ``devices_to_audit`` reads of a journal
AUDIT_FIELDS = ("ev", "user", "device", "useq")


def devices_to_audit(events: Iterable[dict[str, Any]]) -> dict[tuple[str, str], int]:
    """Every device of the journal with the highest contiguous useq it holds (only the
    ``AUDIT_FIELDS`` of the ``AUDIT_KINDS`` events are read)."""
    useqs: dict[tuple[str, str], set[int]] = {}
    for ev in events:
        kind = ev["ev"]
        if kind == "device":
            useqs.setdefault((ev["user"], ev["device"]), set())
        elif kind == "deliver" and isinstance(ev.get("useq"), int):
            useqs.setdefault((ev["user"], ev["device"]), set()).add(ev["useq"])
    held = {}
    for key, seen in useqs.items():
        upto = 0
        while upto + 1 in seen:
            upto += 1
        held[key] = upto
    return held


class _AuditFailed(Exception):
    pass


class _Unknown(_AuditFailed):
    """The server does not know this request type (``unknown_type``)."""


_SKIPPABLE = ("unknown_type", "unsupported")  # the server or the protocol has no such request


async def _request(link: AuditLink, frame: dict[str, Any], want: str,
                   pushed: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    """Send ``frame`` and wait for its ``want`` reply; a message pushed meanwhile goes to
    ``pushed`` (a protocol without stored history, MQTT, catches up by pushes)."""
    await link.send(frame)
    while True:
        reply = await link.next_event()
        if reply.get("t") == "msg":
            pushed(reply)
            continue
        if reply.get("rid") != frame["rid"]:
            continue  # other replies
        if reply["t"] == "error":
            kind = _Unknown if reply.get("code") in _SKIPPABLE else _AuditFailed
            raise kind(f"{frame['t']} answered error {reply.get('code')}: {reply.get('msg')}")
        if reply["t"] != want:
            raise _AuditFailed(f"{frame['t']} answered {reply['t']}, not {want}")
        return reply


async def _audit_one(adapter: Adapter, after: int, url: str,
                     record: Callable[[dict[str, Any]], None], clock: Callable[[], float],
                     open_timeout_s: float, ca: str | None, sealer: Sealer | None) -> int:
    user, device, token = adapter.identity.user, adapter.identity.device, adapter.identity.token
    count = pushes = 0

    def pushed(m: dict[str, Any]) -> None:
        nonlocal count, pushes
        record(_delivery(m, user, device, clock(), via="push", sealer=sealer))
        count, pushes = count + 1, pushes + 1

    async with dial(url, adapter, ca, open_timeout_s) as conn:
        link = AuditLink(conn, adapter, clock, ca)
        adapter.opened(clock())
        await link.settle()
        ok = await _request(link, {"t": "login", "rid": 1, "token": token,
                                 "ts": int(time.time() * 1000)}, "login_ok", pushed)
        inbox_seq = ok.get("inbox_seq", 0)
        record(event("audit", clock(), user=user, device=device, action="start",
                     inbox_seq=inbox_seq))
        rid, more = 2, True
        while more:  # until a round brings neither a next page nor a push
            pushes = 0
            batch = await _request(link, {"t": "sync", "rid": rid, "after": after,
                                        "limit": SYNC_LIMIT}, "sync_batch", pushed)
            rid += 1
            for m in batch.get("msgs", []):
                record(_delivery(m, user, device, clock(), sealer=sealer))
                count += 1
            upto = batch.get("upto", after)
            more = (bool(batch.get("more")) and upto > after) or pushes > 0
            after = max(after, upto)
        await link.send({"t": "ack", "upto": after})
        await _final_state(link, rid, user, device, record, clock, pushed)
        record(event("audit", clock(), user=user, device=device, action="done",
                     inbox_seq=inbox_seq))
        return count


def _delivery(m: dict[str, Any], user: str, device: str, at: float,
              via: str = "sync", sealer: Sealer | None = None) -> dict[str, Any]:
    """The ``deliver`` event of one inbox entry, synced or pushed (with ``sealer``, e2e:
    the digest of the plaintext, or ``undecryptable`` as the engine journals it)."""
    body = m.get("body")
    extra: dict[str, Any] = {}
    kind = m.get("kind")
    if sealer is not None and kind != "event":
        body = sealer.open(m.get("conv"), m.get("from"), body)
        if body is None:
            extra["undecryptable"] = True
    if kind is not None:
        extra["kind"] = kind
        if kind == "event" and isinstance(body, dict):
            extra["event"] = body
        elif kind == "event" and body is not None:  # not the documented object: as text
            extra["event_text"] = body if isinstance(body, str) else orjson.dumps(body).decode()
    return event("deliver", at, user=user, device=device, session=AUDIT_SESSION,
                 mid=m.get("mid"), conv=m.get("conv"), seq=m.get("seq"), useq=m.get("useq"),
                 cmid=m.get("cmid"), digest=body_digest(body) if isinstance(body, str) else None,
                 via=via, phase="audit", **{"from": m.get("from"),
                                               "from_device": m.get("from_device")}, **extra)


async def _final_state(link: AuditLink, rid: int, user: str, device: str,
                       record: Callable[[dict[str, Any]], None],
                       clock: Callable[[], float],
                       pushed: Callable[[dict[str, Any]], None]) -> None:
    """Fetch and record the user's read markers and stored state (skipped when unknown)."""
    try:
        ok = await _request(link, {"t": "reads", "rid": rid}, "reads_ok", pushed)
        record(event("marks", clock(), user=user, device=device, session=AUDIT_SESSION,
                     marks=ok.get("marks") or {}, phase="audit"))
    except _Unknown:
        pass
    try:
        ok = await _request(link, {"t": "state", "rid": rid + 1}, "state_ok", pushed)
        record(event("state", clock(), user=user, device=device, session=AUDIT_SESSION,
                     contacts=ok.get("contacts") or [], pinned=ok.get("pinned") or [],
                     groups=ok.get("groups") or [], phase="audit"))
    except _Unknown:
        pass


async def _audit_all(held: Mapping[tuple[str, str], int], urls: list[str],
                     adapter_for: Callable[[str, str], Adapter],
                     record: Callable[[dict[str, Any]], None], clock: Callable[[], float],
                     timeout_s: float, concurrency: int,
                     progress: Callable[[int], None], ca: str | None,
                     keys: KeyDirectory | None = None) -> AuditResult:
    result = AuditResult(devices=len(held))
    gate = asyncio.Semaphore(concurrency)
    deadline = clock() + timeout_s

    async def one(i: int, user: str, device: str, after: int) -> None:
        async with gate:
            attempt, why = 0, "no attempt"
            while clock() < deadline:
                url = urls[(i + attempt) % len(urls)]
                attempt += 1
                try:
                    remaining = max(0.5, deadline - clock())
                    result.messages += await asyncio.wait_for(
                        _audit_one(adapter_for(user, device), after, url, record, clock,
                                   min(10.0, remaining), ca,
                                   Sealer(keys, user) if keys is not None else None),
                        remaining)
                    result.synced += 1
                    progress(1)
                    return
                except (OSError, WebSocketException, TimeoutError, _AuditFailed,
                        ValueError) as e:
                    why = f"{url}: {type(e).__name__}: {e}"
                    await asyncio.sleep(min(1.0, 0.1 * attempt))
            result.failed.append(f"{user}/{device}: {why}")
            progress(1)

    await asyncio.gather(*(one(i, u, d, after) for i, ((u, d), after)
                           in enumerate(sorted(held.items()))))
    return result


def run_audit(held: Mapping[tuple[str, str], int], urls: list[str], secret: str,
              record: Callable[[dict[str, Any]], None], *, timeout_s: float = 120.0,
              concurrency: int = 100, clock: Callable[[], float] = time.monotonic,
              progress: Callable[[int], None] = lambda n: None, protocol: str = "v1",
              options: dict[str, Any] | None = None, ca: str | None = None,
              keys: KeyDirectory | None = None) -> AuditResult:
    """Audit every device of ``held`` (``devices_to_audit``) against ``urls`` in ``protocol``
    (a fresh adapter per attempt, with ``options``; TLS trusting ``ca``, else the system's
    CAs; with ``keys``, the run's e2e key directory, opening sealed bodies); bounded by
    ``timeout_s`` overall."""
    if not urls:
        raise ValueError("the audit needs at least one node URL")

    def adapter_for(user: str, device: str) -> Adapter:
        return make_adapter(protocol, user, device, secret, options)

    return asyncio.run(_audit_all(held, urls, adapter_for, record, clock, timeout_s,
                                  concurrency, progress, ca, keys))
