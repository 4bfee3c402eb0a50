"""Who a Locust user is: a device of a person of the population, unique across workers.

Pure functions, no Locust. With ``W`` processes (workers), the n-th user started
by worker ``w`` (0-based) gets the global index ``n * W + w``: unique across
workers, and dense (0, 1, 2 ...) however the master spreads users. The index
names a device of the population (``Population.device``: every person's first
device, then every second device ...) or, when replaying, a device of the
trace (``Trace.order``). ``run_id`` prefixes every user name, so runs that
share a backend never meet.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from imload.traffic.names import device_of, local_user, user_of
from imload.traffic.population import Population


@dataclass(frozen=True, slots=True)
class Identity:
    index: int    # the Locust user's global number
    person: int   # which person of the population (-1 for a trace's device)
    number: int   # which of their devices (0: the first)
    user: str     # run-local user name
    device: str
    model_user: str  # the name in the model or the trace (no run id)


def global_index(local_n: int, worker_index: int, worker_count: int) -> int:
    """The global number of the ``local_n``-th user (0-based) started by this worker."""
    if not 0 <= worker_index < max(worker_count, 1):
        raise ValueError(f"worker index {worker_index} outside 0..{worker_count - 1}")
    return local_n * max(worker_count, 1) + worker_index


def identity(run_id: str, index: int, pop: Population) -> Identity:
    """The device of the population that Locust user ``index`` plays."""
    person, number = pop.device(index)
    name = user_of(person)
    return Identity(index, person, number, local_user(run_id, name), device_of(number), name)


def trace_identity(run_id: str, index: int, order: list[tuple[str, str]]) -> Identity:
    """The device of a trace that Locust user ``index`` plays (past the end: extra
    devices of the trace's users, which only listen)."""
    user, device = order[index % len(order)]
    lap = index // len(order)
    if lap:
        device = f"x{lap}{device}"[:64]
    return Identity(index, -1, lap, local_user(run_id, user), device, user)


def device_skew(seed: int, index: int, lo: int, hi: int, share: float) -> int:
    """The clock error (ms) of device ``index``: in [lo, hi] for a ``share`` of devices."""
    if share <= 0 or (lo == 0 and hi == 0):
        return 0
    rng = random.Random(f"{seed}/skew/{index}")
    return rng.randint(lo, hi) if rng.random() < share else 0


def parse_profiles(text: str) -> list[tuple[str, float]]:
    """``"3g=0.2,subway=0.05"`` -> [("3g", 0.2), ("subway", 0.05)]; ValueError if malformed."""
    out = []
    for item in (x.strip() for x in text.split(",") if x.strip()):
        name, sep, share = item.partition("=")
        try:
            value = float(share)
        except ValueError:
            value = -1.0
        if not sep or not name or not 0 < value <= 1:
            raise ValueError(f"--imload-profiles: {item!r} is not NAME=SHARE with 0 < SHARE <= 1")
        out.append((name, value))
    if sum(s for _, s in out) > 1 + 1e-9:
        raise ValueError("--imload-profiles: the shares add up to more than 1")
    return out


def device_profile(seed: int, index: int, profiles: str) -> str | None:
    """The network profile of device ``index`` (seeded), or None for the plain network."""
    if not profiles:
        return None
    draw = random.Random(f"{seed}/profile/{index}").random()
    total = 0.0
    for name, share in parse_profiles(profiles):
        total += share
        if draw < total:
            return name
    return None
