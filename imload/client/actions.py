"""What the device engine asks its driver to do.

The engine never does I/O. Every input (``DeviceEngine.frame_received`` and
friends) queues zero or more of these actions; the driver drains them with
``DeviceEngine.actions()`` and carries them out in order. They are immutable
values, like h11's events.

Driver contract, per action:

- ``FetchRoute(user, device)``: ask the target's LBS (``GET /v1/route?user=U&device=D``)
  which nodes to try; report ``route_received(urls)`` with the nodes' urls in the
  LBS's order, or ``route_failed(reason)`` when the LBS cannot be asked (the engine
  then falls back to the target's static node list).
- ``Connect(url)``: open a WebSocket to ``url``; report ``transport_open`` or
  ``transport_failed`` (with ``retry_after_ms`` from an HTTP 503's
  ``Retry-After``). At most one connection exists at a time.
- ``SendFrame(frame)``: encode (``imload.protocol.encode_frame``) and write it
  on the current connection; if there is none, drop it (the engine's timers
  cover the loss).
- ``Close(reason)``: close the current connection and forget it. The engine
  already treats it as gone: report nothing more about that socket.
- ``SetTimer(name, at)``: call ``timer_fired(name, now)`` once ``now >= at``.
  Setting a timer that is already set replaces it (it fires once, at the new
  time).
- ``CancelTimer(name)``: forget that timer.
- ``Record(event)``: append the journal event to the journal.
- ``Metric(name, ms, error)``: a request-like measurement for the load tool's
  live statistics (Locust's request events); not journaled.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class FetchRoute:
    user: str
    device: str


@dataclass(frozen=True, slots=True)
class Connect:
    url: str


@dataclass(frozen=True, slots=True)
class SendFrame:
    frame: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Close:
    reason: str


@dataclass(frozen=True, slots=True)
class SetTimer:
    name: str
    at: float


@dataclass(frozen=True, slots=True)
class CancelTimer:
    name: str


@dataclass(frozen=True, slots=True)
class Record:
    event: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Metric:
    """``name`` is ``login`` (connect to login_ok), ``sync`` (a full catch-up:
    first sync request to the last batch), ``send-ack`` (first attempt to the
    outcome), ``op`` (an op's first attempt to its outcome) or ``read`` (a read
    marker's first attempt to ``read_ok``); ``error`` is None on success, else why
    it failed."""

    name: str
    ms: float
    error: str | None = None


Action = FetchRoute | Connect | SendFrame | Close | SetTimer | CancelTimer | Record | Metric
