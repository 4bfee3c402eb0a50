"""The population: devices per person, contacts, heavy-tailed groups; deterministic."""

from __future__ import annotations

import collections

import pytest

from imload.traffic import Population, get_mix
from imload.traffic.mixes import MIXES, Mix


def test_same_seed_same_population_other_seed_other() -> None:
    a, b = (Population.build(500, get_mix("chat"), 3) for _ in range(2))
    assert a.devices == b.devices and a.people == b.people and a.groups == b.groups
    c = Population.build(500, get_mix("chat"), 4)
    assert c.people != a.people


def test_devices_per_person_follow_the_shares_and_first_devices_come_first() -> None:
    pop = Population.build(3000, get_mix("chat"), 1)
    assert len(pop) == 3000
    counts = collections.Counter(p.devices for p in pop.people)
    n = len(pop.people)
    assert set(counts) == {1, 2, 3}
    assert counts[1] / n == pytest.approx(0.6, abs=0.05)
    assert counts[3] / n == pytest.approx(0.1, abs=0.04)
    numbers = [d for _, d in pop.devices]
    assert numbers == sorted(numbers)  # every person's d0, then the d1s, then the d2s
    assert numbers[:n] == [0] * n
    assert len(set(pop.devices)) == 3000
    assert sum(p.devices for p in pop.people) == 3000


def test_explicit_people_go_round_robin_and_indexes_wrap() -> None:
    pop = Population.build(10, get_mix("chat"), 1, people=4)
    assert [p.devices for p in pop.people] == [3, 3, 2, 2]
    assert pop.device(0) == (0, 0) and pop.device(5) == (1, 1)
    person, number = pop.device(10)  # past the end: an extra device of a person
    assert person == 0 and number >= 3
    with pytest.raises(ValueError, match="at least 2"):
        Population.build(1, get_mix("chat"), 1)


def test_contacts_are_mutual_heavy_tailed_and_never_oneself() -> None:
    pop = Population.build(2000, get_mix("chat"), 2)
    degrees = sorted(len(p.contacts) for p in pop.people)
    assert degrees[0] >= 1
    assert degrees[-1] > 4 * degrees[len(degrees) // 2]  # a few people know many
    for p in pop.people:
        assert p.index not in p.contacts
        for c in p.contacts:
            assert p.index in pop.people[c].contacts


def test_groups_mostly_small_a_few_large_owned_and_with_late_joiners() -> None:
    pop = Population.build(3000, get_mix("groups-heavy"), 5)
    sizes = sorted(g.size for g in pop.groups)
    assert len(pop.groups) == round(len(pop.people) * 0.25)
    assert sizes[len(sizes) // 2] <= 8 and sizes[-1] >= 50
    assert all(3 <= s <= 300 for s in sizes)
    for g in pop.groups:
        assert g.members[0] == g.owner and g.index in pop.owned[g.owner]
        assert len(set(g.members) | set(g.joiners)) == g.size
        for m in g.members:
            assert g.index in pop.people[m].groups
    assert any(g.joiners for g in pop.groups)


def test_every_mix_builds() -> None:
    for name, mix in MIXES.items():
        assert isinstance(mix, Mix) and mix.name == name
        assert len(Population.build(50, mix, 1)) == 50
    with pytest.raises(ValueError, match="choose one of chat"):
        get_mix("disco")
    assert get_mix("chat").with_overrides(device_shares=(1.0,), contacts=None).device_shares == (
        1.0,)


def test_group_rate_zero_means_no_groups_and_no_group_chat() -> None:
    from imload.traffic.model import device_acts

    mix = get_mix("chat").with_overrides(group_rate=0.0, group_share=0.0, late_joiners=0.0)
    pop = Population.build(50, mix, 5)
    assert pop.groups == [] and all(not p.groups for p in pop.people)
    acts = [a for i in range(len(pop.people)) for a in device_acts(pop, mix, 5, i, 0, 60.0, 1.0)]
    assert acts and not any((a.conv or "").startswith("g:") for a in acts)
