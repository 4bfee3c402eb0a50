"""What a device tells Locust about the pushes it got: each with its real age, or nothing.

A push is not a request, so Locust's request table has one row per push kind under
``request_type`` ``push``: ``msg`` (a message pushed to this device: journal
``deliver`` with ``via`` push), ``read_sync`` (another device of the user moved its
read marker) and ``receipt`` (another member read). Its ``response_time`` is the push's
age when it arrived: the time from the originating event (the send, or the read, as
the server stamped it: the push's ``server_ts``) to its arrival on this device::

    age = local_ms(at) + offset - server_ts

``local_ms(at)`` is this device's clock (possibly skewed on purpose) when the push
arrived, ``offset`` its estimate of the server's clock minus its own (from pongs,
NTP-style). Before the device's first pong (one heartbeat after its login) the load
host's own clock stands in for the server's: ``offset = -skew_ms`` undoes only the skew
the device was given. The age is **unknown** when:

- the push carries no ``server_ts`` (an adapter whose protocol has no server time on
  that push: XMPP markers, MQTT's retained markers; a server that does not stamp it);
- it comes out below ``-SLACK_MS``: the clocks disagree by more than the estimate
  knows (a node whose clock is skewed, before the device's first pong). A value in
  ``[-SLACK_MS, 0)`` is the estimate's own error on one host and is reported as 0.

A push of unknown age fires **no** request event: Locust needs a response time for
one, and any number made up (0 ms, as before) would sit in that row's percentiles as
a push that arrived at once. ``PushAges.unknown`` counts them by name instead; the
imload tab of the web UI shows the count and the end of the test logs it. Pure: no
Locust import (the caller passes the function that fires the event).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from imload.client import DeviceEngine

SLACK_MS = 5.0
PUSH_KINDS = ("read_sync", "receipt")  # journal kinds that are pushes (besides a deliver)


def age_ms(local_ms: float, offset_ms: float, server_ts: Any) -> float | None:
    """The age of a push stamped ``server_ts`` that arrived at ``local_ms`` on a device
    whose clock is ``offset_ms`` behind the server's; None when it cannot be known."""
    if not isinstance(server_ts, int) or isinstance(server_ts, bool):
        return None
    age = local_ms + offset_ms - server_ts
    if age < -SLACK_MS:
        return None
    return max(0.0, float(age))


def engine_age_ms(engine: DeviceEngine, ev: dict[str, Any]) -> float | None:
    """The age of the push journaled as ``ev``, by ``engine``'s clock and offset estimate."""
    offset = engine.clock_offset_ms
    if offset is None:  # no pong yet: the load host's clock for the server's
        offset = -float(engine.skew_ms)
    return age_ms(engine.local_ms(ev["at"]), offset, ev.get("server_ts"))


def push_name(ev: dict[str, Any]) -> str | None:
    """The request name of a journal event that is a push (``msg``, ``read_sync``,
    ``receipt``), or None for any other event."""
    kind = ev.get("ev")
    if kind == "deliver":
        return "msg" if ev.get("via") == "push" else None
    return kind if kind in PUSH_KINDS else None


class PushAges:
    """Reports pushes to Locust with their age; counts those whose age is unknown."""

    def __init__(self) -> None:
        self.reported: Counter[str] = Counter()
        self.unknown: Counter[str] = Counter()

    def report(self, ev: dict[str, Any], engine: DeviceEngine,
               fire: Callable[[str, float], None]) -> float | None:
        """For a push event: ``fire(name, age_ms)`` when its age is known (and return
        it), else count it in ``unknown``. Other events: nothing."""
        name = push_name(ev)
        if name is None:
            return None
        age = engine_age_ms(engine, ev)
        if age is None:
            self.unknown[name] += 1
            return None
        self.reported[name] += 1
        fire(name, age)
        return age

    def unknown_summary(self) -> str:
        """``"read_sync 3, receipt 1"``: the pushes not reported, by name ("" when none)."""
        return ", ".join(f"{name} {n}" for name, n in sorted(self.unknown.items()))


PROCESS = PushAges()  # every device of this Locust process
