"""netem's packet decisions, made in userspace without I/O: the model of imload's emulator.

On a kernel without the netem qdisc, a ``netem`` fault's delay, jitter, reorder, duplicate
and corrupt are made by a process in the run's namespace that reads the fault's packets
from an NFQUEUE (``imload/faults/nfqueue.py``). It asks ``Emulation.decide`` what to do with
each packet; this module decides, with netem's meanings:

- ``delay`` is the mean delay in ms; ``jitter`` its sigma for the tabled distributions
  (``normal``, ``pareto``, ``paretonormal``: each scaled to mean 0 and sigma 1, like
  iproute2's tables), its half-width for ``uniform`` (netem's default without a
  distribution: anywhere in ``delay`` +/- ``jitter``); a delay below 0 is 0. Packets are
  released in the order of their due times, so jitter reorders them, as netem does.
- ``reorder`` % of the packets are released at once, ahead of the delayed ones (netem's
  ``reorder P`` with gap 1);
- ``duplicate`` % are sent twice: the copy with a delay of its own, never corrupted;
- ``corrupt`` % have one random bit flipped after the IP header (the TCP header or data),
  so routing still works and the receiver's TCP checksum drops the packet: a loss TCP
  retransmits.

A packet that is not IPv4 with a whole header (the queue only takes TCP/IPv4) is
released at once, unchanged, and counted as an error. The random numbers come from one
seeded ``random.Random``: the same seed and packets give the same decisions.
"""

from __future__ import annotations

import hashlib
import math
import random
from dataclasses import dataclass, field

from imload.faults.packet_rules import DISTRIBUTIONS, Shape

PARETO_ALPHA = 3.0  # iproute2's pareto table: alpha 3
_PARETO_MEAN = PARETO_ALPHA / (PARETO_ALPHA - 1)
_PARETO_SIGMA = math.sqrt(PARETO_ALPHA / ((PARETO_ALPHA - 1) ** 2 * (PARETO_ALPHA - 2)))
COUNTS = ("seen", "delayed", "reordered", "duplicated", "corrupted", "errors")


def standard_draw(rng: random.Random, distribution: str) -> float:
    """One draw of ``distribution`` scaled to mean 0; sigma 1 for the tabled ones, the
    range -1..1 for ``uniform``."""
    if distribution == "normal":
        return rng.gauss(0.0, 1.0)
    if distribution == "pareto":
        return _pareto(rng)
    if distribution == "paretonormal":  # iproute2: a quarter normal, three quarters pareto
        return (0.25 * rng.gauss(0.0, 1.0) + 0.75 * _pareto(rng)) / math.hypot(0.25, 0.75)
    if distribution == "uniform":
        return rng.uniform(-1.0, 1.0)
    raise ValueError(f"distribution is one of {', '.join(DISTRIBUTIONS)}, got {distribution!r}")


def _pareto(rng: random.Random) -> float:
    x = (1.0 - rng.random()) ** (-1.0 / PARETO_ALPHA)  # Pareto, x_m = 1
    return (x - _PARETO_MEAN) / _PARETO_SIGMA


def ip_header_length(packet: bytes) -> int | None:
    """The IPv4 header's length in bytes, or None when ``packet`` is not IPv4 with a whole
    header and something after it."""
    if len(packet) < 20 or packet[0] >> 4 != 4:
        return None
    length = (packet[0] & 0x0F) * 4
    if length < 20 or length >= len(packet):
        return None
    return length


def flip_bit(packet: bytes, rng: random.Random) -> bytes | None:
    """``packet`` with one random bit flipped after its IP header; None when malformed."""
    start = ip_header_length(packet)
    if start is None:
        return None
    at = rng.randrange(start, len(packet))
    out = bytearray(packet)
    out[at] ^= 1 << rng.randrange(8)
    return bytes(out)


@dataclass(frozen=True)
class Decision:
    """What to do with one packet: release it after ``delay_s`` (with ``payload`` when it
    was changed), and send a copy after ``copy_delay_s`` when that is not None."""

    delay_s: float
    payload: bytes | None = None   # the corrupted packet; None: unchanged
    copy_delay_s: float | None = None


@dataclass
class Emulation:
    """netem's decisions for one fault's packets in one direction (see the module's doc)."""

    shape: Shape
    seed: int
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTS, 0))

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._distribution = self.shape.distribution or "uniform"
        if self._distribution not in DISTRIBUTIONS:
            raise ValueError(f"distribution is one of {', '.join(DISTRIBUTIONS)}, got "
                             f"{self._distribution!r}")

    def _chance(self, percent: float | None) -> bool:
        return bool(percent) and self._rng.random() * 100.0 < float(percent or 0)

    def delay_s(self) -> float:
        """One packet's delay in seconds (delay, jitter, distribution; never below 0)."""
        delay = float(self.shape.delay or 0.0)
        if self.shape.jitter:
            delay += float(self.shape.jitter) * standard_draw(self._rng, self._distribution)
        return max(0.0, delay) / 1000.0

    def decide(self, packet: bytes) -> Decision:
        """The decision for ``packet`` (its bytes from the IP header on); counts it."""
        self.counts["seen"] += 1
        if ip_header_length(packet) is None:
            self.counts["errors"] += 1
            return Decision(0.0)
        if self.shape.reorder is not None and self._chance(self.shape.reorder):
            self.counts["reordered"] += 1
            delay = 0.0
        else:
            delay = self.delay_s()
            if delay > 0:
                self.counts["delayed"] += 1
        copy = None
        if self._chance(self.shape.duplicate):
            self.counts["duplicated"] += 1
            copy = self.delay_s()
        payload = None
        if self._chance(self.shape.corrupt):
            payload = flip_bit(packet, self._rng)
            self.counts["corrupted"] += 1
        return Decision(delay, payload, copy)


def seed_of(fault_id: str, direction: str) -> int:
    """A fixed seed for one fault's emulator in one direction (the same in every run)."""
    return int.from_bytes(hashlib.sha256(f"{fault_id}/{direction}".encode()).digest()[:8],
                          "big")
