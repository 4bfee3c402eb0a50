"""Clock anchors and offset estimates: what puts every host's journal on one timeline.

Every journal ``at`` is seconds on its own host's ``time.monotonic()``; between
machines those clocks can be hours apart. Two kinds of events relate them
(``imload/journal/timeline.py`` uses them to shift every event onto the master's
clock):

- ``clock``: the first event of every Locust process's journal (``clock_event``):
  its ``source`` (``<hostname>-<pid>``), its monotonic ``at`` and the wall clock
  (``time.time()``) read at the same moment: an anchor;
- ``clock_offset``: in a master/worker run the master measures each worker's
  offset (worker monotonic minus master monotonic) NTP-style over Locust's own
  messages: it sends ``imload_clock_ping`` with its send time t0, the worker
  answers ``imload_clock_pong`` with its monotonic time t_w, the master notes the
  receive time t1: offset = t_w - (t0 + t1) / 2, rtt = t1 - t0, and the true
  offset lies within rtt / 2 of the estimate. Pings go in rounds: a burst of
  ``BURST`` when a worker first shows up, then ``PINGS`` every ``EVERY_S``; of a
  round the master journals the sample of least RTT, in its own journal (opened
  at its first ping, so a master that runs no users has one too, with its anchor).

The master pings from ``test_start`` to ``test_stop`` (which journals the rounds
still open). Like the package's pure helpers, this module imports nothing from
Locust at import time (``register`` does), so it can be tested unpatched.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gevent

from imload.journal import event

log = logging.getLogger("imload.users")

MSG_PING, MSG_PONG = "imload_clock_ping", "imload_clock_pong"
EVERY_S = 5.0  # a round of pings to every worker this often
BURST = 8  # pings of a worker's first round
PINGS = 3  # pings of every later round
SPACING_S = 0.05  # between the pings of a round
POLL_S = 1.0  # how often the master looks for new workers
ROUND_TIMEOUT_S = 3.0  # a round still missing replies after this is journaled as it is
MISSING = "missing"  # locust.runners.STATE_MISSING: a worker whose heartbeats stopped


def source_id() -> str:
    """This process's clock source: ``<hostname>-<pid>`` (one monotonic clock per host)."""
    return f"{socket.gethostname()}-{os.getpid()}"


def clock_event() -> dict[str, Any]:
    """The anchor a process writes first into its journal (``clock``); a master's says
    ``role: "master"`` (the reference clock, also when it measured nothing)."""
    mono, wall = time.monotonic(), time.time()
    role = {"role": "master"} if _sync is not None else {}
    return event("clock", mono, source=source_id(), wall=wall, host=socket.gethostname(),
                 **role)


@dataclass
class Round:
    """The pings of one round to one worker and its best sample so far."""

    started: float
    expected: int
    received: int = 0
    best: tuple[float, float, float, str] | None = None  # rtt, offset, midpoint, source


class ClockSync:
    """The master's side: pings the workers, journals each round's least-RTT estimate.

    ``journal`` gives the master's journal writer (opened on first use) or None when
    there is nowhere to write.
    """

    def __init__(self, runner: Any, journal: Callable[[], Any], every_s: float = EVERY_S,
                 burst: int = BURST, pings: int = PINGS, spacing_s: float = SPACING_S) -> None:
        self.runner, self.journal = runner, journal
        self.every_s, self.burst, self.pings, self.spacing_s = every_s, burst, pings, spacing_s
        self.rounds: dict[tuple[str, int], Round] = {}
        self.known: set[str] = set()
        self.estimates = 0
        self.stopped = False
        self._round = 0
        self._greenlet: gevent.Greenlet | None = None

    def start(self, **_: Any) -> None:
        """Ping from now on (again, after a ``stop``: Locust's web UI runs several tests)."""
        self.stopped = False
        if self._greenlet is None:
            self._greenlet = gevent.spawn(self._loop)

    def _loop(self) -> None:
        last_all = -self.every_s
        while not self.stopped:
            self.emit(older_than_s=ROUND_TIMEOUT_S)
            nodes = [str(c.id) for c in self.runner.clients.all if c.state != MISSING]
            now = time.monotonic()
            if now - last_all >= self.every_s:
                last_all = now
                self.ping_round({n: self.burst if n not in self.known else self.pings
                                 for n in nodes})
            else:
                new = [n for n in nodes if n not in self.known]
                if new:
                    self.ping_round(dict.fromkeys(new, self.burst))
            gevent.sleep(POLL_S)

    def ping_round(self, counts: dict[str, int]) -> None:
        """Send ``counts[node]`` pings to each node, ``spacing_s`` apart, as one round each."""
        if not counts:
            return
        if not self.known:
            self.journal()  # the master's anchor, even if no estimate ever comes
        self._round += 1
        r = self._round
        self.known.update(counts)
        started = time.monotonic()
        for node, n in counts.items():
            self.rounds[(node, r)] = Round(started, n)
        for i in range(max(counts.values())):
            for node, n in counts.items():
                if i < n and not self.stopped:
                    try:
                        self.runner.send_message(MSG_PING, {"round": r, "t0": time.monotonic()},
                                                 client_id=node)
                    except Exception as e:  # a worker gone meanwhile: its round ends short
                        log.debug("imload: clock ping to %s failed: %s", node, e)
            gevent.sleep(self.spacing_s)

    def on_pong(self, environment: Any, msg: Any, **_: Any) -> None:
        t1 = time.monotonic()
        data = msg.data or {}
        try:
            node, r = str(msg.node_id), int(data["round"])
            t0, tw, source = float(data["t0"]), float(data["tw"]), str(data["source"])
        except (KeyError, TypeError, ValueError):
            log.warning("imload: a malformed clock reply from %s", msg.node_id)
            return
        rnd = self.rounds.get((node, r))
        if rnd is None:
            return  # a round already journaled (a late reply)
        rtt, mid = t1 - t0, (t0 + t1) / 2
        rnd.received += 1
        if rnd.best is None or rtt < rnd.best[0]:
            rnd.best = (rtt, tw - mid, mid, source)
        if rnd.received >= rnd.expected:
            self._journal_round(node, r)

    def emit(self, older_than_s: float = 0.0) -> None:
        """Journal the rounds started more than ``older_than_s`` ago, replies missing or not."""
        now = time.monotonic()
        for key in [k for k, rnd in self.rounds.items() if now - rnd.started >= older_than_s]:
            self._journal_round(*key)

    def _journal_round(self, node: str, r: int) -> None:
        rnd = self.rounds.pop((node, r), None)
        if rnd is None or rnd.best is None or self.stopped:
            return
        rtt, offset, mid, source = rnd.best
        writer = self.journal()
        if writer is None:
            return
        writer.write(event("clock_offset", mid, source=source, offset_s=offset, rtt_s=rtt))
        self.estimates += 1

    def stop(self, **_: Any) -> None:
        """Journal what is pending and stop pinging (at ``test_stop``, before the journal
        is closed)."""
        if self.stopped:
            return
        self.emit()
        self.halt()
        log.info("imload: %d clock offset estimates journaled", self.estimates)

    def halt(self, **_: Any) -> None:
        """Stop at once, journaling nothing more (at ``quitting``: the journal is closed,
        and writing would open it again)."""
        self.stopped = True
        if self._greenlet is not None and self._greenlet is not gevent.getcurrent():
            self._greenlet.kill(block=False)
        self._greenlet = None


def _on_ping(environment: Any, msg: Any, **_: Any) -> None:
    """A worker answers at once with its monotonic time and its clock source."""
    data = msg.data or {}
    environment.runner.send_message(MSG_PONG, {"round": data.get("round"), "t0": data.get("t0"),
                                               "tw": time.monotonic(), "source": source_id()})


_sync: ClockSync | None = None


def register(environment: Any, journal_for: Callable[[Any], Any]) -> ClockSync | None:
    """At Locust's ``init``: a worker answers pings; a master makes a ``ClockSync`` that
    pings from ``test_start`` to ``test_stop`` and journals through
    ``journal_for(options)``. Returns the master's ``ClockSync``."""
    global _sync
    from locust.runners import MasterRunner, WorkerRunner  # patches the process: not at import

    runner = environment.runner
    if isinstance(runner, WorkerRunner):
        runner.register_message(MSG_PING, _on_ping)
        return None
    if not isinstance(runner, MasterRunner):
        return None

    def journal() -> Any:
        options = environment.parsed_options
        return journal_for(options) if options is not None else None

    _sync = sync = ClockSync(runner, journal)
    runner.register_message(MSG_PONG, sync.on_pong)
    environment.events.test_start.add_listener(sync.start)
    environment.events.test_stop.add_listener(sync.stop)
    environment.events.quitting.add_listener(sync.halt)
    return sync
