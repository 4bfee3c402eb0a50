"""Play one device's script (the model's acts, or a trace's lines) against a device.

Pure scheduling, no Locust: the Locust user calls ``run_due(now)`` from its task
and sleeps ``wait_s(now)`` between calls. Model time ``t`` happens at
``t0 + t / speed`` on the monotonic clock (``speed`` 2.0 plays twice as fast).
A device that starts late plays what it missed at once, in order.

- ``send``: a body of ``size`` bytes (words and padding, seeded) to ``conv``.
- ``op`` / ``read``: queued on the device (``do_op`` / ``mark_read``).
- ``offline`` / ``online``: the device's network goes down / comes back.
- A step that names a group the device has not seen itself added to yet (the
  owner's ``group_create`` may not have reached it) waits until it has, at most
  ``group_wait_s``, then goes anyway: a person cannot write in a group they do
  not see, and a replay keeps every message of its trace.
- A ``group_create`` or ``group_add`` the server refused (``op_fail``: a member
  whose consent, a contact_add played on their own device, has not arrived yet,
  docs/protocol.md "Groups") is made again, as a new op: ``refused_retry_s`` (2 s)
  later, then less often (half the time since it was first played, at most
  ``refused_cap_s``, 10 s), until ``refused_wait_s`` (300 s) after it was first
  played: a person asks again once the others have started, even a step later
  (``imload capacity``).
- Reactive reads (the live model; off when a trace has its own ``read`` lines):
  a message from someone else is read with probability ``read_share``,
  ``read_delay_s`` later on average (``on_deliver``); one pending read per
  conversation.
"""

from __future__ import annotations

import heapq
import random
import string
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from imload.traffic.trace import Step

WORDS = ("hello", "are", "you", "there", "on", "my", "way", "see", "you", "soon", "lunch",
         "train", "late", "ok", "thanks", "call", "me", "when", "free", "meeting", "now",
         "good", "night", "morning", "running", "the", "lift", "is", "stuck", "again")
_PAD = string.ascii_letters + string.digits


def make_body(rng: random.Random, size: int) -> str:
    """``size`` bytes of ASCII: a few words, then random padding (at least 1 byte)."""
    size = max(1, size)
    words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 6)))[:size]
    pad = size - len(words) - 1
    if pad <= 0:
        return words.ljust(size, ".")
    return words + " " + "".join(rng.choices(_PAD, k=pad))


RETRIED_OPS = frozenset({"group_create", "group_add"})


class Device(Protocol):
    def send_message(self, conv: str, body: str) -> str: ...
    def do_op(self, kind: str, args: dict[str, Any]) -> str: ...
    def op_outcome(self, opid: str) -> str | None: ...
    def mark_read(self, conv: str, upto: int | None = None) -> int | None: ...
    def set_network(self, up: bool) -> None: ...
    def in_group(self, conv: str) -> bool | None: ...


@dataclass
class Played:
    sends: int = 0
    ops: int = 0
    reads: int = 0
    spells: int = 0
    deferred: int = 0       # steps that waited for their group
    forced: int = 0         # ... and went anyway after group_wait_s
    retried: int = 0        # group ops made again after a refusal


def _group_of(step: Step) -> str | None:
    conv = step.conv or (step.args.get("conv") if step.action == "op" else None)
    if step.action == "op" and step.kind == "group_create":
        return None
    return conv if isinstance(conv, str) and conv.startswith("g:") else None


class Player:
    def __init__(self, device: Device, steps: Sequence[Step], *, t0: float, speed: float = 1.0,
                 rng: random.Random, me: str, read_share: float = 0.0,
                 read_delay_s: float = 3.0, group_wait_s: float = 20.0,
                 refused_retry_s: float = 2.0, refused_cap_s: float = 10.0,
                 refused_wait_s: float = 300.0) -> None:
        if speed <= 0:
            raise ValueError(f"speed must be > 0, got {speed}")
        self.device = device
        self.steps = list(steps)
        self.t0, self.speed = t0, speed
        self.rng = rng
        self.me = me
        self.read_share, self.read_delay_s = read_share, read_delay_s
        self.group_wait_s = group_wait_s
        self.refused_retry_s, self.refused_cap_s = refused_retry_s, refused_cap_s
        self.refused_wait_s = refused_wait_s
        self.played = Played()
        self._watched: list[tuple[str, Step, float]] = []  # (opid, step, until): group ops
        self._retries: list[tuple[float, Step, float]] = []  # (at, step, until)
        self._i = 0
        self._waiting: list[tuple[float, Step]] = []   # (due, step) waiting for a group
        self._reads: list[tuple[float, str]] = []      # heap of (due, conv)
        self._read_convs: set[str] = set()

    def due(self, t: float) -> float:
        """When model time ``t`` happens on the monotonic clock."""
        return self.t0 + t / self.speed

    @property
    def done(self) -> bool:
        """Every step played and nothing pending."""
        return (self._i >= len(self.steps) and not self._waiting and not self._reads
                and not self._watched and not self._retries)

    def next_at(self) -> float | None:
        """The monotonic time of the next thing to do (None: nothing left)."""
        times = []
        if self._i < len(self.steps):
            times.append(self.due(self.steps[self._i].t))
        if self._reads:
            times.append(self._reads[0][0])
        if self._waiting:
            times.append(min(d for d, _ in self._waiting) + 0.25)  # look again soon
        if self._retries:
            times.append(min(at for at, _, _ in self._retries))
        return min(times) if times else None

    def wait_s(self, now: float, cap: float = 1.0) -> float:
        nxt = self.next_at()
        return cap if nxt is None else max(0.0, min(cap, nxt - now))

    def run_due(self, now: float) -> int:
        """Play everything due by ``now``; returns how many steps were played."""
        n = self._retry_due(now)
        still: list[tuple[float, Step]] = []
        for due, step in self._waiting:
            if self._ready(step) or now >= due + self.group_wait_s:
                if not self._ready(step):
                    self.played.forced += 1
                self._play(step, now)
                n += 1
            else:
                still.append((due, step))
        self._waiting = still
        while self._i < len(self.steps) and self.due(self.steps[self._i].t) <= now:
            step = self.steps[self._i]
            self._i += 1
            if self._ready(step):
                self._play(step, now)
                n += 1
            else:
                self.played.deferred += 1
                self._waiting.append((self.due(step.t), step))
        while self._reads and self._reads[0][0] <= now:
            _, conv = heapq.heappop(self._reads)
            self._read_convs.discard(conv)
            self._play(Step(0.0, "read", conv=conv), now)
            n += 1
        self._watch(now)
        return n

    def _retry_due(self, now: float) -> int:
        """Make again the refused group ops whose time has come."""
        due = [r for r in self._retries if r[0] <= now]
        if not due:
            return 0
        self._retries = [r for r in self._retries if r[0] > now]
        for _, step, until in due:
            self.played.retried += 1
            self._play(step, now, until)
        return len(due)

    def will_retry(self, opid: str, now: float) -> bool:
        """Whether op ``opid``, just refused, is one this player makes again (so the
        refusal is no failure of the backend: the user asks again once others agreed)."""
        return any(o == opid and self._retry_at(now, until) is not None
                   for o, _, until in self._watched)

    def _retry_at(self, now: float, until: float) -> float | None:
        """When a group op refused at ``now`` is made again (None: not, past ``until``):
        ``refused_retry_s`` later, growing with half the time since it was first played,
        at most ``refused_cap_s``."""
        since = now - (until - self.refused_wait_s)
        at = now + min(self.refused_cap_s, max(self.refused_retry_s, since / 2))
        return at if at <= until else None

    def _watch(self, now: float) -> None:
        """A watched group op that was refused is made again later, within its window."""
        watched, self._watched = self._watched, []
        for opid, step, until in watched:
            outcome = self.device.op_outcome(opid)
            if outcome is None:
                self._watched.append((opid, step, until))
            elif outcome == "op_fail" and (at := self._retry_at(now, until)) is not None:
                self._retries.append((at, step, until))

    def _ready(self, step: Step) -> bool:
        group = _group_of(step)
        return group is None or self.device.in_group(group) is not None

    def _play(self, step: Step, now: float, until: float | None = None) -> None:
        d, p = self.device, self.played
        if step.action == "send":
            d.send_message(step.conv, make_body(self.rng, step.size))
            p.sends += 1
        elif step.action == "op":
            opid = d.do_op(step.kind, step.args)
            p.ops += 1
            if step.kind in RETRIED_OPS:
                self._watched.append((opid, step, now + self.refused_wait_s
                                      if until is None else until))
        elif step.action == "read":
            d.mark_read(step.conv)
            p.reads += 1
        elif step.action == "offline":
            d.set_network(False)
            p.spells += 1
        elif step.action == "online":
            d.set_network(True)

    def on_deliver(self, ev: dict[str, Any], now: float) -> None:
        """A ``deliver`` journal event of this device: maybe read it a little later."""
        if (self.read_share <= 0 or ev.get("from") == self.me or ev.get("kind") != "text"
                or ev.get("phase") != "load"):
            return
        conv = ev.get("conv")
        if not isinstance(conv, str) or conv in self._read_convs:
            return
        share = self.read_share * (0.5 if conv.startswith("g:") else 1.0)
        if self.rng.random() >= share:
            return
        delay = self.rng.expovariate(1.0 / self.read_delay_s) / self.speed
        self._read_convs.add(conv)
        heapq.heappush(self._reads, (now + delay, conv))
