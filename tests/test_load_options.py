"""The one table of load options (``imload/load_options.py``), pure: a scenario's ``[load]``
parsed and checked from it, Locust's ``--imload-*`` parser made from it takes every flag and
checks with the same rules, a scenario and the command line ``imload run`` gives Locust
agree for every option, and no drill or ``imload init`` template names a key the table lacks.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from imload.load_options import (
    INT,
    LOAD_KEYS,
    NUMBER,
    OPTION,
    OPTIONS,
    STRINGS,
    SWITCH,
    LoadError,
    LoadSpec,
    locust_args,
    locust_value,
    new_run_id,
    parse_load,
)
from imload.traffic.mix_table import KEYS as MIX_KEYS
from imload.traffic.mix_table import resolve
from imload.users import options as opts

REPO = Path(__file__).resolve().parent.parent

# a valid value, not the default, of every [load] key (a new key needs one here)
SAMPLE: dict[str, Any] = {
    "users": 30, "spawn_rate": 7.5, "duration_s": 22.5, "processes": 3, "expect_workers": 2,
    "master_host": "127.0.0.2", "master_port": 6000, "locustfile": "churn",
    "msg_interval_s": 0.3, "population": 12, "mix": "multi-device",
    "device_shares": [0.5, 0.25, 0.25], "trace": "t.jsonl", "time_scale": 2.5,
    "backoff": "decorrelated", "backoff_base_s": 0.05, "backoff_cap_s": 12.0,
    "skew_ms": [-1800000, -60000], "skew_share": 0.125, "display": "hybrid",
    "ship_journal": True, "push_loss": 0.01, "e2e": True,
}


def locust_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(exit_on_error=False)
    opts.add_options(parser)
    return parser


def locust_check(*argv: str) -> list[str]:
    """Locust's problems with these options (a target given unless they give one)."""
    target = [] if any(a.startswith("--imload-target") for a in argv) else [
        "--imload-target", "t.toml"]
    return opts.check(locust_parser().parse_args([*target, *argv]))


# ------------------------------------------------------------------ the table itself

def test_the_table_makes_loadspec_and_every_default_keeps_its_own_rule() -> None:
    assert [f.name for f in dataclasses.fields(LoadSpec)] == [*LOAD_KEYS, "mix_overrides"]
    assert LoadSpec() == LoadSpec(**parse_load({}))
    assert len(OPTION) == len(OPTIONS)
    for o in OPTIONS:
        assert o.flag is None or o.flag.startswith("--imload-"), o.name
        assert o.scenario or o.flag is not None, o.name  # a Locust-only option has a flag
        assert o.problem(o.initial) is None or o.required, o.name
        if o.rule is not None and not o.no_default:  # no value ("", none): no rule
            assert o.rule.ok(o.initial), o.name
        if o.scenario and o.kind in (INT, NUMBER):
            assert o.rule is not None, f"{o.name}: a number of [load] without a rule"
    assert set(SAMPLE) == set(LOAD_KEYS), "give every [load] key a sample value"


@pytest.mark.parametrize("option", [o for o in OPTIONS if o.rule is not None],
                         ids=lambda o: o.name)
def test_every_rule_fires_in_the_scenario_and_in_locust(option: Any) -> None:
    bad = option.rule.bad
    if option.scenario:
        with pytest.raises(LoadError) as e:
            parse_load({option.name: list(bad) if isinstance(bad, tuple) else bad})
        assert str(e.value).startswith(f"load.{option.name} ") and "got" in str(e.value)
    if option.flag is None:
        return  # Locust's own flag (-u, -r, ...): the scenario's rule is the one
    problems = locust_check(f"{option.flag}={option.kind.text(bad)}")
    assert len(problems) == 1 and problems[0].startswith(f"{option.flag} "), problems


@pytest.mark.parametrize("raw, words", [
    ({"users": "many"}, "load.users must be an integer, got 'many'"),
    ({"users": 0}, "load.users must be at least 1, got 0"),
    ({"spawn_rate": True}, "load.spawn_rate must be a number, got True"),
    ({"skew_ms": [1.5]}, "load.skew_ms must be a list of integers"),
    ({"ship_journal": "yes"}, "load.ship_journal must be true or false"),
    ({"master_port": 70000}, "load.master_port must be a port, 1 to 65535, got 70000"),
    ({"population": 1}, "load.population must be at least 2, got 1"),
    ({"backoff": "linear"}, "load.backoff must be one of none, fixed, exponential"),
    ({"device_shares": [0.5, 0.6]}, "load.device_shares must be shares of people"),
    ({"speed": 3}, "[load] has unknown key(s) speed; known: users, spawn_rate"),
    ({"mix_overrides": {}}, "[load] has unknown key(s) mix_overrides"),
    ({"mix": 3}, "load.mix must be a mix name"),
    ({"mix": "disco"}, "load.mix must be one of chat"),
])
def test_a_bad_scenario_value_is_one_line_naming_the_key(raw: dict[str, Any],
                                                         words: str) -> None:
    with pytest.raises(LoadError) as e:
        parse_load(raw)
    assert words in str(e.value) and "\n" not in str(e.value)


def test_a_scenario_load_is_kept_as_given() -> None:
    values = parse_load({**SAMPLE, "mix": {"base": "churn", "group_rate": 0.5},
                         "device_shares": [1.0]})
    load = LoadSpec(**values)
    assert load.skew_ms == (-1800000, -60000) and load.users == 30
    assert (load.mix, load.mix_overrides) == ("churn", {"group_rate": 0.5,
                                                        "device_shares": (1.0,)})
    assert load.traffic_mix().group_rate == 0.5
    with pytest.raises(LoadError, match=r"^\[load\] must be a table$"):
        parse_load([1])


# ------------------------------------------------------------------ Locust's parser

def test_the_locust_parser_takes_every_flag_and_keeps_plain_values() -> None:
    parser = locust_parser()
    flags = {f for a in parser._actions for f in a.option_strings}
    assert flags >= {o.flag for o in OPTIONS if o.flag}
    defaults = parser.parse_args([])
    for o in OPTIONS:
        if o.flag is None:
            continue
        raw = getattr(defaults, o.dest)
        assert raw is None or isinstance(raw, str | int | float | bool), o.name  # msgpack
        assert locust_value(o, defaults) == o.initial, o.name
        assert locust_value(o, argparse.Namespace()) == o.initial, o.name  # absent
    assert "--imload-msg-interval" in parser.format_help()


@pytest.mark.parametrize("argv, words", [
    (["--imload-skew-ms=a:b"], "--imload-skew-ms: expected LO:HI"),
    (["--imload-device-shares", "a,b"], "--imload-device-shares: expected numbers"),
    (["--imload-mix-overrides", "{nope"], "--imload-mix-overrides: not a JSON object"),
    (["--imload-mix-overrides", '{"group_max": 2}'], "must not exceed"),
    (["--imload-device-shares", "1", "--imload-mix-overrides", '{"device_shares": [1]}'],
     "the same knob"),
])
def test_locust_text_that_is_no_value_is_one_problem(argv: list[str], words: str) -> None:
    problems = locust_check(*argv)
    assert len(problems) == 1 and words in problems[0], problems


def test_locust_needs_a_target_and_resolves_the_run_dependent_defaults() -> None:
    ns = locust_parser().parse_args([])
    assert opts.check(ns) == ["--imload-target is required (the target file: the nodes to "
                              "dial and the token secret; `imload cluster up` writes one)"]
    ns.num_users, ns.run_time = 6, 30
    opts.resolve_defaults(ns)
    assert re.fullmatch(r"r[0-9a-f]+", ns.imload_run_id)
    assert (ns.imload_devices, ns.imload_horizon) == (6, 30.0)


def test_the_run_id_is_made_one_way() -> None:
    assert new_run_id(1.0, 5) == "r3e85" and new_run_id(1.0, 261) == "r3e85"
    assert new_run_id(1.0, 6) != new_run_id(1.0, 5)  # two runs in the same ms
    assert new_run_id(36**7 / 1000 + 0.001, 0) == "r10"  # the time wraps: names stay short
    from imload import run
    assert run.new_run_id is new_run_id


# ------------------------------------------------ a scenario and its Locust command line

def test_a_scenario_and_its_locust_command_line_agree_for_every_option(
        tmp_path: Path) -> None:
    from imload.run import locust_command
    from imload.scenario import parse_scenario
    (tmp_path / "t.jsonl").write_text("")
    scenario = parse_scenario({"seed": 7, "load": SAMPLE,
                               "profiles": [{"name": "weak", "share": 0.25, "preset": "3g"}]},
                              tmp_path / "s.toml")
    load = scenario.load
    cmd = locust_command(scenario, tmp_path / "target.toml", tmp_path / "j", "r1x")
    ns, rest = locust_parser().parse_known_args(cmd[3:])
    for o in OPTIONS:
        if o.scenario and o.flag is not None and o.sent:
            assert locust_value(o, ns) == getattr(load, o.name), o.name
    assert opts.mix_overrides(ns) == load.mix_overrides == {"device_shares": (0.5, 0.25, 0.25)}
    assert resolve(ns.imload_mix, opts.mix_overrides(ns)) == load.traffic_mix()
    assert (ns.imload_seed, ns.imload_run_id, ns.imload_profiles) == (7, "r1x", "weak=0.25")
    assert (ns.imload_target, ns.imload_journal) == (str(tmp_path / "target.toml"),
                                                     str(tmp_path / "j"))
    assert opts.check(ns) == []
    def own(flag: str) -> str:  # Locust's own flags, which carry the other keys
        return rest[rest.index(flag) + 1]
    assert (own("-u"), own("-r"), own("-t"), own("--expect-workers")) == ("30", "7.5", "23s",
                                                                          "2")
    assert (own("--master-bind-host"), own("--master-bind-port")) == ("127.0.0.2", "6000")
    assert own("-f").endswith("churn.py") and "--processes" not in rest  # a master's workers


def test_only_what_differs_from_the_default_is_sent() -> None:
    assert locust_args(LoadSpec()) == []
    args = locust_args(LoadSpec(skew_ms=(-5, -1), push_loss=0.1), ship_journal=True, seed=1)
    assert args == ["--imload-skew-ms=-5:-1", "--imload-ship-journal", "--imload-push-loss",
                    "0.1"]
    odd = locust_args(LoadSpec(msg_interval_s=1 / 3))  # no digits lost on the way
    assert float(odd[1]) == 1 / 3
    assert [o.kind for o in OPTIONS if o.kind is SWITCH and o.initial] == []  # store_true


# ------------------------------------------- the drills and templates name table keys

def _files() -> list[Path]:
    return sorted([*(REPO / "chaos").rglob("*.toml"),
                   *(REPO / "imload" / "init" / "templates").glob("*-scenario.toml")])


def _commented_load_keys(text: str) -> set[str]:
    """Keys shown commented out (``# key = ...``) in the [load] section."""
    keys, inside = set(), False
    for line in text.splitlines():
        if line.startswith("["):
            inside = line.split("#")[0].strip() == "[load]"
        elif inside and (found := re.match(r"#\s*(\w+)\s*=", line)):
            keys.add(found.group(1))
    return keys


def test_every_load_key_in_the_drills_and_templates_is_a_key_of_the_table() -> None:
    files = _files()
    assert len(files) >= 25 and any(p.name == "v1-scenario.toml" for p in files)
    for path in files:
        text = path.read_text(encoding="utf-8")
        load = tomllib.loads(text).get("load", {})
        stale = (set(load) | _commented_load_keys(text)) - set(LOAD_KEYS)
        assert not stale, f"{path}: [load] keys the table does not have: {sorted(stale)}"
        if isinstance(load.get("mix"), dict):
            assert set(load["mix"]) <= {"base", *MIX_KEYS}, path
    assert "mix" in _commented_load_keys((REPO / "chaos" / "default.toml").read_text())
    assert _commented_load_keys("[load]\n# speed = 3\n[audit]\n# zz = 1\n") == {"speed"}


def test_a_list_of_strings_is_taken_and_reads_back_from_its_text() -> None:
    """STRINGS: the kind of a scenario's lists of names (``cluster.node_args``)."""
    assert STRINGS.takes(["--max-conns", "50"]) and STRINGS.takes([])
    assert not STRINGS.takes(["a", 1]) and not STRINGS.takes("a")
    assert STRINGS.read(STRINGS.text(("a", "b")), "--x") == ("a", "b")
    assert STRINGS.read("", "--x") == () and STRINGS.words == "a list of strings"
