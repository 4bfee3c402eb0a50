"""The simulated people: their devices, their contacts and their groups.

``Population.build(devices, mix, seed)`` is a pure function of its arguments, so
every Locust worker builds the same population and a device index means the
same (person, device) everywhere. Names are run-independent (``u17``, ``d0``,
``g:g3``); ``names.py`` prefixes them with the run id.

- Devices: people get 1, 2 or 3 ... devices with the mix's ``device_shares``
  until there are as many devices as asked (at least two people). Device
  indexes list every person's first device, then every second device, and so
  on, so a partial run still has many people. With ``people`` given, devices
  go round-robin over that many people instead.
- Contacts: a Chung-Lu style graph: each person has a weight drawn from a
  Pareto tail and picks partners in proportion to theirs, so most people have
  a handful of contacts and a few have many; every edge goes both ways.
- Groups: ``group_rate`` per person; sizes from a Pareto tail between
  ``group_min`` and ``group_max`` (most small, a few up to hundreds); the owner
  is drawn by weight, members are the owner's contacts first, then others by
  weight. The last ``late_joiners`` share of the members is added later by the
  owner (``group_add``); the others are named in the owner's ``group_create``.
"""

from __future__ import annotations

import bisect
import itertools
import math
import random
from dataclasses import dataclass

from imload.traffic.mixes import Mix


@dataclass(frozen=True, slots=True)
class Person:
    index: int
    devices: int
    activity: float              # relative chattiness, mean 1
    contacts: tuple[int, ...]    # most frequent first
    groups: tuple[int, ...]      # groups this person is in from their creation


@dataclass(frozen=True, slots=True)
class Group:
    index: int
    owner: int
    members: tuple[int, ...]     # named in group_create (the owner first)
    joiners: tuple[int, ...]     # added later by the owner

    @property
    def size(self) -> int:
        return len(self.members) + len(self.joiners)


class Population:
    def __init__(self, people: list[Person], groups: list[Group],
                 devices: list[tuple[int, int]]) -> None:
        self.people = people
        self.groups = groups
        self.devices = devices   # device index -> (person, device number)
        self.max_devices = max(p.devices for p in people)
        self.owned: dict[int, list[int]] = {}  # person -> groups they own
        for g in groups:
            self.owned.setdefault(g.owner, []).append(g.index)

    def __len__(self) -> int:
        return len(self.devices)

    def device(self, index: int) -> tuple[int, int]:
        """(person, device number) of a device index; indexes past the end wrap around
        as further devices of the same people."""
        n = len(self.devices)
        person, number = self.devices[index % n]
        return person, number + (index // n) * self.max_devices

    @classmethod
    def build(cls, devices: int, mix: Mix, seed: int, people: int | None = None) -> Population:
        if devices < 2:
            raise ValueError(f"a population needs at least 2 devices, got {devices}")
        rng = random.Random(f"{seed}/population")
        counts = _device_counts(devices, mix.device_shares, rng, people)
        n = len(counts)
        order = [(p, d) for d in range(max(counts)) for p in range(n) if d < counts[p]]
        weights = [min(rng.paretovariate(1.5), 50.0) for _ in range(n)]
        cum = list(itertools.accumulate(weights))
        contacts = _contacts(n, mix.contacts, weights, cum, rng)
        groups = _groups(n, mix, contacts, cum, rng)
        member_of: list[list[int]] = [[] for _ in range(n)]
        for g in groups:
            for m in g.members:
                member_of[m].append(g.index)
        sigma = mix.activity_sigma
        people_list = [Person(p, counts[p], rng.lognormvariate(-sigma * sigma / 2, sigma),
                              tuple(contacts[p]), tuple(member_of[p])) for p in range(n)]
        return cls(people_list, groups, order)


def _device_counts(devices: int, shares: tuple[float, ...], rng: random.Random,
                   people: int | None) -> list[int]:
    if people is not None:
        people = max(2, min(people, devices))
        return [len(range(p, devices, people)) for p in range(people)]
    counts: list[int] = []
    total = 0
    choices = list(range(1, len(shares) + 1))
    while total < devices:
        k = min(rng.choices(choices, weights=shares)[0], devices - total)
        counts.append(k)
        total += k
    if len(counts) < 2:
        counts = [1] * devices
    return counts


def _pick(cum: list[float], rng: random.Random) -> int:
    return bisect.bisect_left(cum, rng.random() * cum[-1])


def _contacts(n: int, mean: float, weights: list[float], cum: list[float],
              rng: random.Random) -> list[list[int]]:
    avg_w = cum[-1] / n
    adj: list[dict[int, None]] = [{} for _ in range(n)]  # insertion-ordered sets
    for p in range(n):
        want = max(1, round(mean / 2 * weights[p] / avg_w))
        for _ in range(min(want, n - 1) * 2):  # a few tries each; duplicates are skipped
            if len(adj[p]) >= want + 1:
                break
            q = _pick(cum, rng)
            if q != p:
                adj[p][q] = None
                adj[q][p] = None
    for p in range(n):
        if not adj[p]:
            q = (p + 1) % n
            adj[p][q] = None
            adj[q][p] = None
    return [list(a) for a in adj]


def _groups(n: int, mix: Mix, contacts: list[list[int]], cum: list[float],
            rng: random.Random) -> list[Group]:
    if n < 3 or mix.group_rate == 0:
        return []  # group_rate 0: no groups (a protocol without them, say)
    count = max(1, round(n * mix.group_rate))
    top = min(mix.group_max, n)
    out = []
    for i in range(count):
        size = min(top, max(mix.group_min, int(mix.group_min * rng.paretovariate(mix.group_alpha))))
        owner = _pick(cum, rng)
        chosen: dict[int, None] = {owner: None}
        friends = list(contacts[owner])
        rng.shuffle(friends)
        for f in friends[:size - 1]:
            chosen[f] = None
        tries = 0
        while len(chosen) < size and tries < size * 20:
            chosen[_pick(cum, rng)] = None
            tries += 1
        members = list(chosen)
        late = math.floor((len(members) - 2) * mix.late_joiners) if len(members) > 2 else 0
        cut = len(members) - late
        out.append(Group(i, owner, tuple(members[:cut]), tuple(members[cut:])))
    return out
