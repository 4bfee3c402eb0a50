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

A push of unknown age is **not** reported: Locust needs a response time for one,
and any number made up (0 ms, as before) would sit in that row's percentiles as a
push that arrived at once. ``PushAges.unknown`` counts them by name instead; the
imload tab of the web UI shows the count and the end of the test logs it. Pure: no
Locust import (the caller passes the function that reports a push: ``pushstats.py``
merges them into Locust's table).
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


Batch = tuple[float, dict[str, list[float]]]  # (last arrival, epoch s; ages by push kind)


class PushBatch:
    """The ages of the pushes of one wall-clock second, by kind, until they are handed on
    together (``pushstats.py`` merges each kind's list into Locust's table in one step)."""

    __slots__ = ("_ages", "_last", "_second")

    def __init__(self) -> None:
        self._ages: dict[str, list[float]] = {}
        self._second = -1
        self._last = 0.0

    @property
    def pending(self) -> int:
        """Pushes kept and not handed on yet."""
        return sum(len(a) for a in self._ages.values())

    def add(self, name: str, age_ms: float, now: float) -> Batch | None:
        """Keep a push of kind ``name`` of that age that arrived at ``now`` (epoch s);
        when ``now`` is in a later second than what is kept, that is returned first."""
        second = int(now)
        done = None
        if second != self._second:
            done = self.take()
            self._second = second
        self._last = now
        ages = self._ages.get(name)
        if ages is None:
            self._ages[name] = [age_ms]
        else:
            ages.append(age_ms)
        return done

    def take(self) -> Batch | None:
        """What is kept (None: nothing), now forgotten: the arrival of its last push
        (epoch s) and the ages by kind."""
        if not self._ages:
            return None
        ages, self._ages = self._ages, {}
        return self._last, ages


PROCESS = PushAges()  # every device of this Locust process
