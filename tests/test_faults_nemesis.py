import pytest

from imload.faults.nemesis import NemesisSpec, nemesis_schedule, parse_nemesis


def test_same_seed_same_faults_other_seed_other_faults() -> None:
    spec = NemesisSpec()
    a = nemesis_schedule(spec, ["n1", "n2", "n3"], 120, seed=4)
    assert a == nemesis_schedule(spec, ["n3", "n1", "n2"], 120, seed=4)
    assert a != nemesis_schedule(spec, ["n1", "n2", "n3"], 120, seed=5)


def test_faults_rotate_without_overlap_and_end_before_the_load() -> None:
    spec = NemesisSpec(interval_s=10, start_s=5)
    faults = nemesis_schedule(spec, ["n1", "n2"], 100, seed=1)
    assert len(faults) == 9  # 5, 15, ... 85: the last interval before the end is left quiet
    for a, b in zip(faults, faults[1:], strict=False):
        assert a.for_s is not None and a.at_s + a.for_s < b.at_s
    assert {f.preset for f in faults} == {"nemesis"}
    assert len({(f.kind, f.target) for f in faults}) > 3


def test_parse() -> None:
    spec = parse_nemesis({"interval_s": 8, "kinds": ["latency", "kill"], "targets": ["n2"]})
    assert spec.kinds == ("latency", "kill") and spec.targets == ("n2",)
    for raw, words in (({"interval_s": 0.5}, "at least 1"), ({"kinds": ["meteor"]}, "meteor"),
                       ({"kinds": []}, "non-empty"), ({"every": 3}, "unknown key")):
        with pytest.raises(ValueError, match=words):
            parse_nemesis(raw)
