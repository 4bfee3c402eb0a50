"""What each simulated person does, over time: the per-device scripts of the model.

``person_acts(pop, mix, seed, person, horizon_s, msg_interval_s)`` returns every
action of one person (all devices), sorted by time; ``device_acts`` keeps one
device's. Both are pure functions of their arguments, seeded per person, so a
device's script is the same on every worker and in ``imload trace synth``.
Times are seconds from the start of the load ("model time").

Per person:

- Presence: each device alternates online sessions (mean ``online_s``) and
  offline spells (mean ``offline_s``, at most ``max_offline_s``): an ``offline``
  act (``size`` = its length) and an ``online`` act. In an "airplane" spell
  (``airplane_share``) the user keeps acting on that device and everything
  queues; otherwise the person only uses devices that are online.
- Consent (``consent``, on unless the protocol keeps no contacts): at time 0,
  from their first device, a person adds as contacts (``contact_add``) their
  contacts and the owners of the groups they are or will be in: the consent a
  server asks before it adds a user to a group (the reference server does,
  docs/protocol.md, "Groups"). Those contacts are never removed by the ops below.
- Groups: an owner creates each of their groups at the start (``group_create``
  naming the first members) from their first device, and adds the late joiners
  (``group_add``) during the run. A member who has not given consent yet (their
  device started later) gets the op refused: the player makes it again
  (``imload/users/player.py``).
- Messages: bursts as a Poisson process of rate ``devices x activity /
  (msg_interval_s x burst_mean)``; a burst goes to one conversation (a group with
  ``group_share``, else a contact, favourite contacts first), has a geometric
  number of messages ``burst_gap_s`` apart, the first of any size of the mix's
  ``sizes``, the rest short.
- Ops: a Poisson process (mean ``op_interval_s``) of contact_add / contact_remove,
  pin / unpin, group_add (a contact into one of one's groups; each outsider by one
  member only, ``adder_of``, once) and leaving a group (never the owner); after
  leaving, the person no longer writes there.
- Reads are not scripted here: a device reads what it receives after
  ``read_delay_s`` (``imload/users/player.py``); ``trace.synth`` writes them out.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from imload.traffic.mixes import Mix
from imload.traffic.names import dm, group_of, user_of
from imload.traffic.population import Group, Population

MAX_BURST = 12


@dataclass(frozen=True, slots=True)
class Act:
    t: float                 # model seconds from the start
    person: int
    device: int              # device number of the person
    action: str              # send | op | read | offline | online
    conv: str = ""           # send, read (model names: u3, g:g1)
    size: int = 0            # send: body bytes; offline: spell length in seconds
    kind: str = ""           # op kind
    args: dict[str, Any] = field(default_factory=dict)


Spell = tuple[float, float, bool]  # (start, end, airplane)


def spells_of(mix: Mix, seed: int, person: int, device: int, horizon_s: float) -> list[Spell]:
    """The offline spells of one device."""
    rng = random.Random(f"{seed}/sessions/{person}/{device}")
    out: list[Spell] = []
    t = mix.warmup_s + rng.expovariate(1.0 / mix.online_s)
    while t < horizon_s:
        length = min(mix.max_offline_s, rng.expovariate(1.0 / mix.offline_s))
        out.append((t, t + length, rng.random() < mix.airplane_share))
        t += length + rng.expovariate(1.0 / mix.online_s)
    return out


class _Presence:
    def __init__(self, spells: list[list[Spell]], phone_weight: float) -> None:
        self.spells = spells
        self.weights = [phone_weight if d == 0 else 1.0 for d in range(len(spells))]

    def pick(self, t: float, rng: random.Random) -> int | None:
        """The device the person uses at ``t``: an online one, else one in airplane mode."""
        online, airplane = [], None
        for d, spells in enumerate(self.spells):
            spell = next((s for s in spells if s[0] <= t < s[1]), None)
            if spell is None:
                online.append(d)
            elif spell[2] and airplane is None:
                airplane = d
        if online:
            return rng.choices(online, weights=[self.weights[d] for d in online])[0]
        return airplane


def _zipf(items: list[Any], rng: random.Random) -> Any:
    return rng.choices(items, weights=[1.0 / (i + 1) for i in range(len(items))])[0]


def body_size(mix: Mix, rng: random.Random, short: bool = False) -> int:
    """A body size in bytes from the mix's size classes (``short``: the first class)."""
    classes = mix.sizes[:1] if short else mix.sizes
    _, lo, hi = rng.choices(classes, weights=[c[0] for c in classes])[0]
    return rng.randint(lo, hi)


def consent_of(pop: Population, person: int) -> list[int]:
    """Whom ``person`` adds as a contact at the start: their contacts and the owners of
    the groups they are or will be in (sorted, never themselves)."""
    owners = {g.owner for g in pop.groups if person in g.members or person in g.joiners}
    return sorted((set(pop.people[person].contacts) | owners) - {person})


def adder_of(pop: Population, group: Group, contact: int) -> int | None:
    """The one member who may add ``contact`` (an outsider) to ``group`` in the ops: the
    first member named at its creation with ``contact`` among their contacts. So nobody
    adds a member already there: a server applies that as a no-op, with no event to place
    it by (docs/protocol.md), and the checker could not tell who is in."""
    return next((m for m in group.members if contact in pop.people[m].contacts), None)


def person_acts(pop: Population, mix: Mix, seed: int, person: int, horizon_s: float,
                msg_interval_s: float, consent: bool = True) -> list[Act]:
    """Every act of ``person`` on all their devices within ``horizon_s``, by time;
    ``consent``: begin with the contacts of ``consent_of``."""
    me = pop.people[person]
    rng = random.Random(f"{seed}/person/{person}")
    spells = [spells_of(mix, seed, person, d, horizon_s) for d in range(me.devices)]
    presence = _Presence(spells, mix.phone_weight)
    acts: list[Act] = []
    for d, ss in enumerate(spells):
        for start, end, _ in ss:
            acts.append(Act(start, person, d, "offline", size=max(1, round(end - start))))
            acts.append(Act(end, person, d, "online"))
    agreed = consent_of(pop, person) if consent else []
    acts += [Act(0.0, person, 0, "op", kind="contact_add", args={"user": user_of(o)})
             for o in agreed]
    for g in pop.owned.get(person, []):
        group = pop.groups[g]
        conv = group_of(g)
        acts.append(Act(rng.uniform(0.0, min(1.5, mix.warmup_s)), person, 0, "op",
                        kind="group_create", args={"conv": conv, "members": [
                            user_of(m) for m in group.members if m != person]}))
        for j in group.joiners:
            t = rng.uniform(mix.warmup_s, max(mix.warmup_s + 1.0, horizon_s * 0.7))
            acts.append(Act(t, person, presence.pick(t, rng) or 0, "op", kind="group_add",
                            args={"conv": conv, "user": user_of(j)}))
    left: dict[int, float] = {}
    acts += _ops(pop, mix, person, horizon_s, presence, rng, left, set(agreed))
    acts += _bursts(pop, mix, person, horizon_s, msg_interval_s, presence, rng, left)
    acts.sort(key=lambda a: (a.t, a.device))
    return acts


def device_acts(pop: Population, mix: Mix, seed: int, person: int, device: int,
                horizon_s: float, msg_interval_s: float, consent: bool = True) -> list[Act]:
    """The script of one device."""
    return [a for a in person_acts(pop, mix, seed, person, horizon_s, msg_interval_s,
                                   consent) if a.device == device]


def _bursts(pop: Population, mix: Mix, person: int, horizon_s: float, msg_interval_s: float,
            presence: _Presence, rng: random.Random, left: dict[int, float]) -> list[Act]:
    me = pop.people[person]
    rate = me.devices * me.activity / (msg_interval_s * mix.burst_mean)
    out: list[Act] = []
    t = mix.warmup_s + rng.expovariate(rate)
    while t < horizon_s:
        device = presence.pick(t, rng)
        if device is not None:
            groups = [g for g in me.groups if left.get(g, horizon_s + 1) > t]
            if groups and rng.random() < mix.group_share:
                conv = group_of(_zipf(groups, rng))
            else:
                conv = dm(person, _zipf(list(me.contacts), rng))
            n = 1
            while n < MAX_BURST and rng.random() > 1.0 / mix.burst_mean:
                n += 1
            tk = t
            until = left.get(int(conv[3:]), horizon_s) if conv.startswith("g:") else horizon_s
            for k in range(n):
                if tk >= until:
                    break  # left the group meanwhile
                out.append(Act(tk, person, device, "send", conv=conv,
                               size=body_size(mix, rng, short=k > 0)))
                tk += rng.uniform(*mix.burst_gap_s)
        t += rng.expovariate(rate)
    return out


def _ops(pop: Population, mix: Mix, person: int, horizon_s: float, presence: _Presence,
         rng: random.Random, left: dict[int, float], agreed: set[int]) -> list[Act]:
    me = pop.people[person]
    n = len(pop.people)
    kinds = list(mix.op_weights)
    weights = [mix.op_weights[k] for k in kinds]
    added: list[int] = []
    brought: set[tuple[int, int]] = set()  # (group, contact) this person added
    pinned: list[str] = []
    out: list[Act] = []
    t = mix.warmup_s + rng.expovariate(1.0 / mix.op_interval_s)
    while t < horizon_s:
        kind = rng.choices(kinds, weights=weights)[0]
        device = presence.pick(t, rng)
        mine = [g for g in me.groups if g not in left]
        args: dict[str, Any] | None = None
        op = kind
        if kind == "contact_add":
            other = rng.randrange(n)
            if other != person and other not in agreed:  # a consent is never taken back
                added.append(other)
                args = {"user": user_of(other)}
        elif kind == "contact_remove" and added:
            args = {"user": user_of(added.pop(rng.randrange(len(added))))}
        elif kind == "pin":
            convs = [dm(person, c) for c in me.contacts[:5]] + [group_of(g) for g in mine]
            conv = rng.choice(convs)
            if conv not in pinned:
                pinned.append(conv)
                args = {"conv": conv, "pinned": True}
        elif kind == "unpin" and pinned:
            op, args = "pin", {"conv": pinned.pop(rng.randrange(len(pinned))), "pinned": False}
        elif kind == "group_add" and mine:
            g = pop.groups[rng.choice(mine)]
            inside = set(g.members) | set(g.joiners)
            outside = [c for c in me.contacts if c not in inside and (g.index, c) not in brought
                       and adder_of(pop, g, c) == person]
            if outside:
                c = rng.choice(outside)
                brought.add((g.index, c))
                op, args = "group_add", {"conv": group_of(g.index), "user": user_of(c)}
        elif kind == "group_leave":
            leavable = [g for g in mine if pop.groups[g].owner != person]
            if leavable:
                g = rng.choice(leavable)
                left[g] = t
                op, args = "group_remove", {"conv": group_of(g), "user": user_of(person)}
                pinned[:] = [c for c in pinned if c != group_of(g)]
        if args is not None and device is not None:
            out.append(Act(t, person, device, "op", kind=op, args=args))
        elif args is not None and op == "group_remove":
            del left[int(args["conv"][3:])]  # not done after all
        t += rng.expovariate(1.0 / mix.op_interval_s)
    return out
