import random

import pytest

from imload.faults.presets import PRESETS, expand_preset


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_stays_inside_its_window_and_is_seeded(name: str) -> None:
    step = {"kind": "preset", "preset": name, "target": "n1", "at_s": 10, "for_s": 60}
    a = expand_preset(step, 100, random.Random(1))
    b = expand_preset(step, 100, random.Random(1))
    assert a == b and a
    for spec in a:
        assert spec.preset == name and spec.target == "n1"
        assert 10 <= spec.at_s and spec.at_s + (spec.for_s or 0) <= 70 + 1e-6
        assert spec.detail()["preset"] == name


def test_elevator_is_one_black_hole_of_10_to_30_s() -> None:
    for seed in range(20):
        (spec,) = expand_preset({"kind": "preset", "preset": "elevator", "target": "n1",
                                 "at_s": 0, "for_s": 100}, 100, random.Random(seed))
        assert spec.kind == "timeout" and spec.attributes == {"timeout": 0}
        assert spec.for_s is not None and 10 <= spec.for_s <= 30


def test_subway_alternates_tunnels_and_station_resets() -> None:
    specs = expand_preset({"kind": "preset", "preset": "subway", "target": "n2", "at_s": 0,
                           "for_s": 120}, 120, random.Random(3))
    kinds = [s.kind for s in specs]
    assert kinds[:2] == ["timeout", "reset_peer"] and kinds.count("timeout") >= 3


def test_window_defaults_to_the_rest_of_the_load() -> None:
    specs = expand_preset({"kind": "preset", "preset": "3g", "target": "*", "at_s": 5}, 65,
                          random.Random(0))
    assert {(s.at_s, s.for_s) for s in specs} == {(5.0, 60.0)}
    assert {s.stream for s in specs if s.kind == "bandwidth"} == {"downstream", "upstream"}


@pytest.mark.parametrize("step, words", [
    ({"preset": "moon"}, "preset must be one of"),
    ({"preset": "3g", "target": "n1", "latency": 3}, "unknown key"),
    ({"preset": "3g"}, "target must name a node"),
    ({"preset": "3g", "target": "n1", "at_s": -1}, "at_s must be"),
])
def test_bad_preset_steps(step: dict, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        expand_preset({"kind": "preset", **step}, 60, random.Random(0))


@pytest.mark.parametrize("name", ["3g-packets", "high-speed-rail-packets"])
def test_packet_presets_are_netem_faults_the_kind_accepts(name: str) -> None:
    from imload.faults.registry import KINDS
    specs = expand_preset({"kind": "preset", "preset": name, "target": "n1.slow", "at_s": 0,
                           "for_s": 60}, 60, random.Random(2))
    assert {s.kind for s in specs} == {"netem"}
    for spec in specs:
        KINDS["netem"].validate(spec)  # raises on a key or value the kind refuses
    assert specs[0].attributes["delay"] > 0 and specs[0].for_s == 60


def test_high_speed_rail_packets_handovers_lose_everything_briefly_and_apart() -> None:
    specs = expand_preset({"kind": "preset", "preset": "high-speed-rail-packets",
                           "target": "n1", "at_s": 0, "for_s": 120}, 120, random.Random(5))
    gaps = [s for s in specs if s.attributes == {"loss": 100}]
    assert len(gaps) >= 8  # one every 5-10 s
    for a, b in zip(gaps, gaps[1:], strict=False):
        assert a.for_s is not None and 0.3 <= a.for_s <= 1.0
        assert b.at_s - (a.at_s + a.for_s) >= 5 - 1e-6
