"""The per-person scripts: deterministic, plausible rates, bursts, sizes, presence, ops."""

from __future__ import annotations

import collections

import pytest

from imload.traffic import Population, body_size, device_acts, get_mix, person_acts
from imload.traffic.model import spells_of

H = 120.0


def acts_of(pop: Population, mix_name: str, seed: int = 1) -> list:
    mix = get_mix(mix_name)
    out = []
    for p in range(len(pop.people)):
        out += person_acts(pop, mix, seed, p, H, 2.0)
    return out


def test_scripts_are_deterministic_and_split_by_device() -> None:
    mix = get_mix("multi-device")
    pop = Population.build(300, mix, 9)
    person = next(p for p in pop.people if p.devices == 3).index
    whole = person_acts(pop, mix, 9, person, H, 2.0)
    assert whole == person_acts(pop, mix, 9, person, H, 2.0)
    parts = [device_acts(pop, mix, 9, person, d, H, 2.0) for d in range(3)]
    assert sorted(a.t for part in parts for a in part) == [a.t for a in whole]
    assert all(parts)  # every device gets something to do
    assert [a.t for a in whole] == sorted(a.t for a in whole)


def test_send_rate_matches_msg_interval_on_average() -> None:
    pop = Population.build(600, get_mix("chat"), 1)
    sends = [a for a in acts_of(pop, "chat") if a.action == "send"]
    per_device_s = len(sends) / len(pop) / (H - get_mix("chat").warmup_s)
    assert per_device_s == pytest.approx(1 / 2.0, rel=0.25)
    first = min(a.t for a in sends)
    assert first >= get_mix("chat").warmup_s


def test_bursts_sizes_and_people_differ() -> None:
    mix = get_mix("chat")
    pop = Population.build(600, mix, 2)
    sends = [a for a in acts_of(pop, "chat", 2) if a.action == "send"]
    sizes = sorted(a.size for a in sends)
    assert sizes[len(sizes) // 2] <= 80 and sizes[-1] > 1000  # mostly short, some KiB
    per_person = collections.Counter(a.person for a in sends)
    counts = sorted(per_person.values())
    assert counts[-1] > 5 * counts[len(counts) // 2]  # some people talk a lot more
    by_person: dict[int, list[float]] = collections.defaultdict(list)
    for a in sends:
        by_person[a.person].append(a.t)
    gaps = [b - a for ts in by_person.values() for a, b in zip(ts, ts[1:], strict=False)]
    assert sum(1 for g in gaps if g < 2.5) > len(gaps) * 0.3  # bursts of quick messages
    rng = __import__("random").Random(1)
    assert all(4 <= body_size(mix, rng, short=True) <= 80 for _ in range(200))


def test_groups_created_first_by_their_owner_then_joiners_added() -> None:
    pop = Population.build(400, get_mix("groups-heavy"), 3)
    acts = acts_of(pop, "groups-heavy", 3)
    creates = {a.args["conv"]: a for a in acts if a.action == "op" and a.kind == "group_create"}
    assert len(creates) == len(pop.groups)
    for g in pop.groups:
        c = creates[f"g:g{g.index}"]
        assert c.person == g.owner and c.device == 0 and c.t < 1.5
        assert sorted(c.args["members"]) == sorted(f"u{m}" for m in g.members[1:])
    adds = [a for a in acts if a.action == "op" and a.kind == "group_add"]
    assert adds and all(a.t > creates[a.args["conv"]].t for a in adds)
    group_sends = [a for a in acts if a.action == "send" and a.conv.startswith("g:")]
    assert len(group_sends) > 0.5 * sum(1 for a in acts if a.action == "send")


def test_presence_churn_and_offline_typing() -> None:
    mix = get_mix("churn")
    pop = Population.build(300, mix, 4)
    acts = acts_of(pop, "churn", 4)
    offline = [a for a in acts if a.action == "offline"]
    online = [a for a in acts if a.action == "online"]
    assert len(offline) == len(online) > len(pop)
    assert all(1 <= a.size <= mix.max_offline_s + 1 for a in offline)
    spells = {(p, d): spells_of(mix, 4, p, d, H) for p, d in pop.devices}
    during = [a for a in acts if a.action in ("send", "op") and any(
        s <= a.t < e for s, e, _ in spells[(a.person, a.device)])]
    assert during  # typed while offline: queued

    def airplane(a: object) -> bool:
        return any(s <= a.t < e and air for s, e, air in spells[(a.person, a.device)])

    assert any(airplane(a) for a in during)
    # ops are done offline only in airplane mode (a joiner is added whatever the owner's
    # network); sends offline otherwise only finish a burst begun online
    assert all(airplane(a) for a in during if a.action == "op" and a.kind != "group_add")


def test_ops_are_plausible_and_leaving_ends_writing_there() -> None:
    mix = get_mix("groups-heavy").with_overrides(op_interval_s=10.0)
    pop = Population.build(300, mix, 6)
    acts = []
    for p in range(len(pop.people)):
        acts += person_acts(pop, mix, 6, p, H, 2.0)
    kinds = collections.Counter(a.kind for a in acts if a.action == "op")
    assert {"contact_add", "pin", "group_add", "group_remove"} <= set(kinds)
    for a in acts:
        if a.action == "op" and a.kind == "group_remove":
            assert a.args["user"] == f"u{a.person}"  # people leave; owners stay
            later = [b for b in acts if b.person == a.person and b.t > a.t
                     and b.action == "send" and b.conv == a.args["conv"]]
            assert not later
        if a.action == "op" and a.kind in ("contact_add", "contact_remove"):
            assert a.args["user"] != f"u{a.person}"


def test_people_consent_first_to_their_contacts_and_their_groups_owners() -> None:
    """At time 0, from their first device, each person adds their contacts and the owners
    of the groups they are or will be in, before any group_create; the ops never take
    such a contact back; without ``consent`` (a protocol with no contacts) none of it."""
    mix = get_mix("groups-heavy").with_overrides(op_interval_s=5.0)
    pop = Population.build(300, mix, 8)
    acts = acts_of_with(pop, mix, 8)
    agreed = {(a.person, a.args["user"]) for a in acts
              if a.action == "op" and a.kind == "contact_add" and a.t == 0.0}
    assert all(a.device == 0 for a in acts if a.kind == "contact_add" and a.t == 0.0)
    for g in pop.groups:
        for m in (*g.members, *g.joiners):
            assert m == g.owner or (m, f"u{g.owner}") in agreed
    for p in pop.people:
        assert all((p.index, f"u{c}") in agreed for c in p.contacts)
    creates = [a for a in acts if a.kind == "group_create"]
    assert creates and min(a.t for a in creates) > 0.0
    removed = {(a.person, a.args["user"]) for a in acts if a.kind == "contact_remove"}
    assert removed and not removed & agreed
    bare = [a for p in range(len(pop.people))
            for a in person_acts(pop, mix, 8, p, H, 2.0, consent=False)]
    assert not [a for a in bare if a.kind == "contact_add" and a.t == 0.0]


def acts_of_with(pop: Population, mix: object, seed: int) -> list:
    return [a for p in range(len(pop.people)) for a in person_acts(pop, mix, seed, p, H, 2.0)]


def test_nobody_adds_a_member_twice() -> None:
    """A group_add of someone already in is a no-op with no event on a v1 server, which the
    checker cannot place: each outsider is added to a group by one member, once."""
    mix = get_mix("groups-heavy").with_overrides(op_interval_s=2.0)
    pop = Population.build(300, mix, 11)
    adds = collections.Counter((a.args["conv"], a.args["user"]) for a in acts_of_with(
        pop, mix, 11) if a.kind == "group_add")
    assert len(adds) > 50 and max(adds.values()) == 1
