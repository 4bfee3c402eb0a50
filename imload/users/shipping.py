"""Journal shipping: in a master/worker run, every worker's journal reaches the master
through Locust's own messages, so the checker runs in one place.

With ``--imload-ship-journal``:

- a worker journals into a ``ShippingJournal``: events are kept as JSON lines and
  sent to the master every second (``runner.send_message("imload_journal", ...)``);
  when the worker stops (``test_stop``, after its users' ``on_stop`` drained the
  devices) it sends the rest with ``eof``;
- the master writes each worker's lines to ``<journal dir>/locust-<worker>.jsonl``
  as they come (``register_message``);
- at its own ``test_stop`` the master asks every worker that has not sent its
  ``eof`` to stop and flush (``imload_flush``) and waits for them (bounded), so a
  headless run that ends on ``--run-time`` loses nothing.

Without the option (and always in a standalone run) each process writes its own
file, which is what ``--processes N`` on one machine needs.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from pathlib import Path
from typing import Any

import gevent
import orjson

log = logging.getLogger("imload.users")

MSG_LINES, MSG_FLUSH = "imload_journal", "imload_flush"
SHIP_EVERY_S = 1.0


class ShippingJournal:
    """A journal writer (``write``/``flush``/``close``) that ships its lines to the master."""

    def __init__(self, runner: Any, every_s: float = SHIP_EVERY_S) -> None:
        self.runner = runner
        self.count = 0
        self.shipped = 0
        self.path = Path(f"<master>/{getattr(runner, 'client_id', 'worker')}")
        self._lines: list[bytes] = []
        self._lock = threading.Lock()
        self._eof = False
        self._greenlet = gevent.spawn(self._every, every_s)

    def write(self, ev: dict[str, Any]) -> None:
        line = orjson.dumps(ev)
        with self._lock:
            self._lines.append(line)
            self.count += 1

    def _every(self, seconds: float) -> None:
        while not self._eof:
            gevent.sleep(seconds)
            self.ship()

    def ship(self, eof: bool = False) -> None:
        """Send what is buffered (and ``eof``: nothing more will come)."""
        with self._lock:
            lines, self._lines = self._lines, []
            if self._eof:
                return
            self._eof = eof
        if not lines and not eof:
            return
        self.runner.send_message(MSG_LINES, {"lines": b"\n".join(lines) + b"\n" if lines
                                             else b"", "n": len(lines), "eof": eof})
        self.shipped += len(lines)

    def flush(self) -> None:
        self.ship()

    def close(self) -> None:
        self.ship(eof=True)
        if self._greenlet is not gevent.getcurrent():
            self._greenlet.kill(block=False)


class JournalReceiver:
    """The master's side: one file per worker, and who has sent its ``eof``."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self.files: dict[str, Any] = {}
        self.eof: set[str] = set()
        self.lines = 0

    @staticmethod
    def _name(node_id: str) -> str:
        return "locust-" + re.sub(r"[^A-Za-z0-9_.-]", "_", node_id)[:100] + ".jsonl"

    def on_message(self, environment: Any, msg: Any, **_: Any) -> None:
        node = str(msg.node_id)
        data = msg.data or {}
        f = self.files.get(node)
        if f is None:
            self.directory.mkdir(parents=True, exist_ok=True)
            f = self.files[node] = open(self.directory / self._name(node), "ab")  # noqa: SIM115
        lines = data.get("lines") or b""
        if lines:
            f.write(lines)
            self.lines += int(data.get("n", 0))
        if data.get("eof"):
            f.flush()
            self.eof.add(node)

    def wait_for(self, runner: Any, timeout_s: float) -> bool:
        """Ask the workers that have not finished to flush; wait until all did or timeout."""
        expected = {str(c.id) for c in runner.clients.all}
        for node in expected - self.eof:
            runner.send_message(MSG_FLUSH, None, client_id=node)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            alive = {str(c.id) for c in runner.clients.all}
            if not (expected & alive) - self.eof:
                break
            gevent.sleep(0.1)
        self.close()
        missing = (expected & {str(c.id) for c in runner.clients.all}) - self.eof
        if missing:
            log.error("imload: no end of journal from worker(s) %s after %.0f s",
                      ", ".join(sorted(missing)), timeout_s)
        return not missing

    def close(self) -> None:
        for f in self.files.values():
            if not f.closed:
                f.flush()
        log.info("imload: %d journal lines received from %d worker(s) into %s",
                 self.lines, len(self.files), self.directory)
