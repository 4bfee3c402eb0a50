"""XEP-0198 stream management, the client's half, as bookkeeping without I/O.

One ``StreamManagement`` per device, alive across its connections (a resume joins
two of them). It counts both ways from the moment the server enabled (or resumed)
stream management:

- outbound: every stanza the client writes (message, presence, iq; not the
  ``<r/>``/``<a/>`` nonzas) is numbered 1, 2, 3 ... and kept in ``queue`` until the
  server's ``<a h=N/>`` (or ``<resumed h=N/>``) says it handled the first N. ``Sent``
  carries what the adapter needs then (the cmid and rid of a chat message, so it can
  answer ``send_ack``).
- inbound: ``handled`` counts the stanzas received, the ``h`` the client reports in
  ``<a/>`` and in ``<resume/>``.

h is an unsigned 32-bit counter that wraps (XEP-0198 section 4); the arithmetic
here is modulo 2**32. An ``h`` acknowledging more than was sent is the server's
fault: ``SmError``.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

WRAP = 2**32


class SmError(ValueError):
    """The server's ``h`` cannot be right (it acknowledges stanzas never sent)."""


@dataclass(slots=True)
class Sent:
    """One counted stanza on the wire and what its acknowledgement means."""

    n: int                   # its number since enable (modulo 2**32)
    payload: bytes
    cmid: str | None = None  # a chat message: the engine's cmid ...
    rid: int | None = None   # ... the rid of the attempt ...
    conv: str | None = None  # ... and its conversation
    upto: int | None = None  # a chat marker (XEP-0333): the read marker it stores


class StreamManagement:
    """The XEP-0198 state of one device: see the module docstring."""

    def __init__(self) -> None:
        self.active = False           # enabled or resumed on the current connection
        self.resume_id: str | None = None
        self.handled = 0              # inbound stanzas counted: our h
        self._sent = 0                # outbound stanzas numbered so far
        self._acked = 0               # the server's last h
        self.queue: deque[Sent] = deque()
        self._by_cmid: dict[str, Sent] = {}

    # ------------------------------------------------------------ lifecycle
    @property
    def can_resume(self) -> bool:
        """A previous connection enabled stream management with resumption."""
        return self.resume_id is not None

    def enabled(self, resume_id: str | None) -> None:
        """``<enabled/>``: a fresh session, counters from 0 (the caller has settled any
        queue of an older session with ``failed`` first)."""
        self.active = True
        self.resume_id = resume_id
        self.handled = self._sent = self._acked = 0
        self.queue.clear()
        self._by_cmid.clear()

    def connection_lost(self) -> None:
        """The connection ended: counting stops; the queue, counters and resume id stay
        for a resume."""
        self.active = False

    def resumed(self, h: int) -> tuple[list[Sent], list[Sent]]:
        """``<resumed h/>``: (the stanzas now acknowledged, those to write again, in order)."""
        acked = self.ack(h)
        self.active = True
        return acked, list(self.queue)

    def failed(self, h: int | None = None) -> tuple[list[Sent], list[Sent]]:
        """The old session is gone (``<failed/>`` to a resume, or no resume possible):
        (the stanzas acknowledged by ``h`` when the server gave one, the rest: lost).
        Everything is forgotten; ``enabled`` starts the next session."""
        acked: list[Sent] = []
        if h is not None:
            try:
                acked = self.ack(h)
            except SmError:
                acked = []
        lost = list(self.queue)
        self.active = False
        self.resume_id = None
        self.handled = self._sent = self._acked = 0
        self.queue.clear()
        self._by_cmid.clear()
        return acked, lost

    # ------------------------------------------------------------ counting
    def track(self, payload: bytes, cmid: str | None = None, rid: int | None = None,
              conv: str | None = None, upto: int | None = None) -> Sent | None:
        """A stanza goes on the wire: numbered and queued while active (else None)."""
        if not self.active:
            return None
        self._sent = (self._sent + 1) % WRAP
        s = Sent(self._sent, payload, cmid, rid, conv, upto)
        self.queue.append(s)
        if cmid is not None:
            self._by_cmid[cmid] = s
        return s

    def unacked(self, cmid: str) -> Sent | None:
        """The chat message ``cmid`` when it is on the wire, not yet acknowledged."""
        return self._by_cmid.get(cmid)

    def received(self) -> None:
        """A stanza came in (message, presence, iq)."""
        if self.active:
            self.handled = (self.handled + 1) % WRAP

    def ack(self, h: int) -> list[Sent]:
        """The server handled our stanzas up to ``h``: the ones this newly acknowledges,
        oldest first. An ``h`` below the last one changes nothing."""
        new = (h - self._acked) % WRAP
        if new == 0 or new > WRAP // 2:  # nothing new, or an old h arriving late
            return []
        if new > len(self.queue):
            raise SmError(f"h={h} acknowledges {new} stanzas, only {len(self.queue)} "
                          f"were unacknowledged (last h={self._acked})")
        self._acked = h % WRAP
        out = [self.queue.popleft() for _ in range(new)]
        for s in out:
            if s.cmid is not None and self._by_cmid.get(s.cmid) is s:
                del self._by_cmid[s.cmid]
        return out
