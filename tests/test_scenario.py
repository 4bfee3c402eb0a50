from pathlib import Path

import pytest

from imload.scenario import ScenarioError, load_scenario, parse_scenario

REPO = Path(__file__).resolve().parent.parent


def parse(data: dict) -> object:
    return parse_scenario(data, Path("/tmp/s.toml"))


def test_default_drill_parses() -> None:
    s = load_scenario(REPO / "chaos" / "default.toml")
    assert s.target == "local"
    assert s.load.users == 100 and s.load.duration_s == 60
    assert [c.kind for c in s.chaos] == ["latency", "kill"]
    assert s.chaos[0].attributes == {"latency": 200, "jitter": 50}


def test_defaults() -> None:
    s = parse({})
    assert s.name == "s" and s.seed == 1 and s.cluster.nodes == 3 and s.chaos == []


def test_target_path_is_relative_to_the_scenario(tmp_path: Path) -> None:
    f = tmp_path / "drill.toml"
    f.write_text('target = "staging.toml"\n')
    assert load_scenario(f).target == str(tmp_path / "staging.toml")


@pytest.mark.parametrize("data, words", [
    ({"bogus": 1}, "unknown key(s) bogus"),
    ({"load": {"users": "many"}}, "load.users must be an integer"),
    ({"load": {"users": 0}}, "load.users must be at least 1"),
    ({"load": {"duration_s": -1}}, "load.duration_s must be > 0, got -1"),
    ({"load": {"speed": 3}}, "[load] has unknown key(s) speed"),
    ({"seed": "x"}, "seed must be an integer"),
    ({"cluster": {"nodes": 0}}, "cluster.nodes must be at least 1"),
    ({"chaos": [{"kind": "meteor", "target": "n1", "at_s": 1}]}, "kind must be one of"),
    ({"chaos": [{"kind": "latency", "target": "n1", "at_s": 1}]}, "missing latency"),
    ({"chaos": [{"kind": "kill", "target": "n1"}]}, "at_s"),
    ({"chaos": [{"kind": "kill", "target": "n1", "at_s": 1, "latency": 3}]}, "unknown key"),
    ({"chaos": [{"kind": "latency", "target": "n1", "at_s": 1, "latency": 5,
                 "stream": "sideways"}]}, "stream must be"),
    ({"chaos": [{"kind": "kill", "target": "n1", "at_s": 999}]}, "after the load ends"),
    ({"chaos": {"kind": "kill"}}, "list of tables"),
    ({"cluster": {"backend": "openfire"}}, "cluster.backend must be one of reference, prosody"),
    ({"cluster": {"backend": "prosody", "bug": "lose-offline"}},
     "the prosody backend takes none of them"),
    ({"cluster": {"protocol": "xmpp"}}, "the reference cluster speaks v1 only"),
])
def test_bad_scenarios_name_the_key(data: dict, words: str) -> None:
    with pytest.raises(ScenarioError) as e:
        parse(data)
    assert words in str(e.value)


def test_unreadable_and_invalid_toml(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="cannot read the scenario"):
        load_scenario(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[load\nusers = 3\n")
    with pytest.raises(ScenarioError, match="not valid TOML"):
        load_scenario(bad)


def test_presets_nemesis_and_star_targets_make_the_plan() -> None:
    s = parse({"load": {"duration_s": 60},
               "chaos": [{"kind": "preset", "preset": "3g", "target": "n1", "at_s": 5,
                          "for_s": 20},
                         {"kind": "down", "target": "*", "at_s": 30, "for_s": 1}],
               "nemesis": {"interval_s": 10, "kinds": ["latency"], "targets": ["n2"]}})
    plan = s.fault_plan(["n1", "n2"])
    assert [(f.kind, f.target) for f in plan if f.preset == "3g"] == [
        ("latency", "n1"), ("bandwidth", "n1"), ("bandwidth", "n1")]
    assert [f.target for f in plan if f.kind == "down"] == ["n1", "n2"]
    assert {f.target for f in plan if f.preset == "nemesis"} == {"n2"}
    assert plan == sorted(plan, key=lambda f: f.at_s)
    with pytest.raises(ScenarioError, match="nemesis: unknown key"):
        parse({"nemesis": {"bogus": 1}})


def test_a_packet_preset_in_a_step_or_a_profile_makes_a_packet_fault_run() -> None:
    assert not parse({"chaos": [{"kind": "preset", "preset": "3g", "target": "n1"}]}
                     ).has_packet_faults()
    assert parse({"chaos": [{"kind": "preset", "preset": "3g-packets", "target": "n1"}]}
                 ).has_packet_faults()
    s = parse({"profiles": [{"name": "rail", "share": 0.2,
                             "preset": "high-speed-rail-packets"}]})
    assert s.has_packet_faults()
    assert {f.target for f in s.fault_plan(["n1", "n2"]) if f.kind == "netem"} == {
        "n1.rail", "n2.rail"}


def test_rescale_multiplies_every_time() -> None:
    from imload.scenario import rescale
    s = rescale(load_scenario(REPO / "chaos" / "default.toml"), time_scale=0.25, users=10)
    assert s.load.duration_s == 15 and s.load.users == 10
    assert [(c.at_s, c.for_s) for c in s.chaos] == [(2.5, 5.0), (6.25, 1.25)]


def test_cluster_lists_and_per_node_skew() -> None:
    s = parse({"cluster": {"nodes": 3, "tls": True, "node_args": ["--max-conns", "50"],
                           "node_clock_skew_ms": [0, 90000, -60000]}})
    assert s.cluster.tls is True and s.cluster.node_args == ("--max-conns", "50")
    assert s.cluster.per_node_args() == {"n2": ["--clock-skew-ms", "90000"],
                                         "n3": ["--clock-skew-ms", "-60000"]}
    for bad, words in (({"node_args": "--x"}, "node_args must be"),
                       ({"node_clock_skew_ms": [1, "x"]}, "node_clock_skew_ms must be"),
                       ({"tls": "yes"}, "tls must be true or false"),
                       ({"nodes": 1, "node_clock_skew_ms": [0, 5]}, "the cluster has 1")):
        with pytest.raises(ScenarioError, match=words):
            parse({"cluster": bad})


# ------------------------------------------- the simulated people's keys of [load]

def test_people_keys_default_and_parse(tmp_path: Path) -> None:
    s = parse({})
    assert (s.load.mix, s.load.backoff, s.load.display, s.load.time_scale) == (
        "", "full_jitter", "seq", 1.0)
    assert s.load.skew_ms == () and s.load.trace is None and not s.load.ship_journal
    (tmp_path / "t.jsonl").write_text('{"t": 0, "user": "u1", "device": "d0", '
                                      '"action": "online"}\n')
    f = tmp_path / "drill.toml"
    f.write_text('[load]\nmix = "churn"\ndevice_shares = [0.5, 0.5]\nbackoff = "decorrelated"\n'
                 'backoff_base_s = 0.5\nbackoff_cap_s = 20\nskew_ms = [-1800000, -1800000]\n'
                 'skew_share = 0.1\ndisplay = "hybrid"\ntrace = "t.jsonl"\ntime_scale = 2.0\n'
                 'ship_journal = true\n')
    load = load_scenario(f).load
    assert load.mix == "churn" and load.device_shares == (0.5, 0.5)
    assert load.skew_ms == (-1800000, -1800000) and load.trace == str(tmp_path / "t.jsonl")
    from imload.load_options import locust_args
    flags = locust_args(load)
    for pair in (["--imload-mix", "churn"], ["--imload-backoff", "decorrelated"],
                 ["--imload-display", "hybrid"], ["--imload-time-scale", "2"],
                 ["--imload-mix-overrides", '{"device_shares":[0.5,0.5]}'],
                 ["--imload-skew-share", "0.1"]):
        i = flags.index(pair[0])
        assert flags[i + 1] == pair[1]
    assert "--imload-skew-ms=-1800000:-1800000" in flags and "--imload-ship-journal" in flags


@pytest.mark.parametrize("load, words", [
    ({"mix": "disco"}, "load.mix must be one of chat"),
    ({"backoff": "linear"}, "load.backoff must be one of"),
    ({"display": "by-ts"}, "load.display must be one of seq, hybrid"),
    ({"skew_ms": [5, 1]}, "load.skew_ms must be [lo, hi]"),
    ({"skew_ms": [1, 2, 3]}, "load.skew_ms must be [lo, hi]"),
    ({"skew_share": 1.5}, "skew_share is a share"),
    ({"time_scale": 0}, "load.time_scale must be > 0, got 0"),
    ({"device_shares": [0, 0]}, "load.device_shares must be shares"),
    ({"device_shares": "0.5,0.5"}, "load.device_shares must be a list of numbers"),
    ({"trace": "nowhere.jsonl"}, "load.trace: no trace file"),
    ({"device_shares": [0.5, 0.6]}, "load.device_shares must be shares"),
    ({"mix": 3}, "load.mix must be a mix name"),
    ({"mix": {"base": "disco"}}, "load.mix.base must be one of chat"),
    ({"mix": {"colour": 1}}, "load.mix has unknown key(s) colour; known: base, device_shares"),
    ({"mix": {"group_rate": "x"}}, "load.mix.group_rate must be a number, got 'x'"),
    ({"mix": {"device_shares": [1.0]}, "device_shares": [1.0]}, "are the same knob"),
    ({"mix_overrides": {"group_rate": 1}}, "[load] has unknown key(s) mix_overrides"),
])
def test_bad_people_keys_name_the_key(load: dict, words: str) -> None:
    with pytest.raises(ScenarioError) as e:
        parse({"load": load})
    assert str(e.value).startswith("/tmp/s.toml: ") and words in str(e.value)


def test_a_mix_table_in_a_scenario_file(tmp_path: Path) -> None:
    f = tmp_path / "drill.toml"
    f.write_text('[load]\nusers = 30\n[load.mix]\nbase = "churn"\ngroup_rate = 0.5\n'
                 'burst_gap_s = [0.1, 0.2]\nop_weights = { pin = 2, unpin = 1 }\n')
    load = load_scenario(f).load
    assert load.mix == "churn" and load.device_shares == ()
    assert load.mix_overrides == {"group_rate": 0.5, "burst_gap_s": (0.1, 0.2),
                                  "op_weights": {"pin": 2.0, "unpin": 1.0}}
    mix = load.traffic_mix()
    assert (mix.name, mix.group_rate, mix.burst_gap_s, mix.online_s) == (
        "churn", 0.5, (0.1, 0.2), 25.0)
    assert parse({"load": {"mix": {"late_joiners": 0.5}}}).load.mix == "chat"  # default base
    legacy = parse({"load": {"mix": "multi-device", "device_shares": [0.5, 0.5]}}).load
    assert legacy.mix_overrides == {"device_shares": (0.5, 0.5)}
    assert legacy.traffic_mix().device_shares == (0.5, 0.5)
    assert parse({}).load.traffic_mix("churn").name == "churn"  # no mix: the locustfile's
    f.write_text('[load.mix]\ngroup_min = 400\n')
    with pytest.raises(ScenarioError, match=r"drill.toml: load.mix.group_min: group_min \(400\)"):
        load_scenario(f)


def test_every_xmpp_drill_parses_and_names_its_backend() -> None:
    drills = sorted((REPO / "chaos").glob("xmpp-*.toml"))
    assert len(drills) >= 5
    for path in drills:
        s = load_scenario(path)
        assert s.cluster.backend in ("prosody", "ejabberd"), path
        assert all(c.target in ("n1", "*") for c in s.chaos), path  # names every backend has
    assert load_scenario(REPO / "chaos" / "xmpp-tcp.toml").cluster.protocol == "xmpp-tcp"
    assert load_scenario(REPO / "chaos" / "xmpp-no-smacks.toml").cluster.smacks is False
