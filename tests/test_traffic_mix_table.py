"""``[load.mix]``: every Mix field settable from a scenario, checked, carried to the users,
and listed in docs/traffic.md."""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, get_type_hints

import pytest

from imload.load_options import locust_args
from imload.scenario import parse_scenario
from imload.traffic.mix_table import (
    AT_LEAST,
    KEYS,
    OP_KINDS,
    SHARES,
    ZERO_OK,
    MixError,
    check_mix,
    describe,
    from_json,
    parse_mix,
    parse_overrides,
    resolve,
    to_json,
)
from imload.traffic.mixes import MIXES, Mix
from imload.traffic.model import device_acts
from imload.traffic.population import Population

REPO = Path(__file__).resolve().parents[1]
HINTS = get_type_hints(Mix)


def fields_of(mix: Mix) -> dict[str, Any]:
    return {k: getattr(mix, k) for k in KEYS}


# ------------------------------------------------------------------ keys and types

def test_keys_are_the_mix_fields_but_its_name() -> None:
    assert KEYS == tuple(f.name for f in dataclasses.fields(Mix) if f.name != "name")
    assert "pipeline_ops" in KEYS and "group_rate" in KEYS
    assert set(SHARES) | set(ZERO_OK) | set(AT_LEAST) <= set(KEYS)  # the rules name fields
    assert OP_KINDS == tuple(Mix().op_weights)
    for key in KEYS:
        assert describe(HINTS[key])  # every field has a TOML form


@pytest.mark.parametrize("name", list(MIXES))
def test_every_named_mix_passes_its_own_checks_and_round_trips(name: str) -> None:
    mix = MIXES[name]
    overrides = parse_overrides(fields_of(mix), "load.mix")
    check_mix(mix, overrides, "load.mix")
    assert resolve(name, overrides) == mix
    assert from_json(to_json(overrides), "--imload-mix-overrides") == overrides


def test_toml_values_become_the_field_types() -> None:
    got = parse_overrides({"sizes": [[1, 4, 80]], "burst_gap_s": [0, 1], "contacts": 3,
                           "op_weights": {"pin": 1}, "pipeline_ops": True,
                           "device_shares": [0.5, 0.5]}, "load.mix")
    assert got == {"device_shares": (0.5, 0.5), "contacts": 3.0, "burst_gap_s": (0.0, 1.0),
                   "sizes": ((1.0, 4, 80),), "op_weights": {"pin": 1.0}, "pipeline_ops": True}
    assert isinstance(got["contacts"], float) and isinstance(got["sizes"][0][1], int)
    mix = resolve("chat", got)
    assert mix.op_weights == {"pin": 1.0}  # a table replaces the mix's whole table
    assert mix.name == "chat" and mix.group_rate == Mix().group_rate


@pytest.mark.parametrize("table, words", [
    # types
    ({"group_min": 3.0}, "load.mix.group_min must be an integer, got 3.0"),
    ({"group_min": True}, "load.mix.group_min must be an integer, got True"),
    ({"group_rate": "0.5"}, "load.mix.group_rate must be a number, got '0.5'"),
    ({"group_rate": False}, "load.mix.group_rate must be a number"),
    ({"group_rate": float("inf")}, "load.mix.group_rate must be a number"),
    ({"group_rate": float("nan")}, "load.mix.group_rate must be a number"),
    ({"pipeline_ops": 1}, "load.mix.pipeline_ops must be true or false, got 1"),
    ({"device_shares": 0.5}, "load.mix.device_shares must be a list of numbers"),
    ({"device_shares": [0.5, "x"]}, "load.mix.device_shares must be a list of numbers"),
    ({"burst_gap_s": [1, 2, 3]}, "load.mix.burst_gap_s must be a list [number, number]"),
    ({"sizes": [[1, 4.5, 80]]}, "must be a list of lists [number, integer, integer]"),
    ({"sizes": [1, 4, 80]}, "must be a list of lists [number, integer, integer]"),
    ({"op_weights": [1, 2]}, "load.mix.op_weights must be a table of numbers"),
    ({"op_weights": {"pin": "often"}}, "load.mix.op_weights must be a table of numbers"),
    # unknown keys
    ({"group_rat": 1}, "load.mix has unknown key(s) group_rat; known: base, device_shares,"),
    ({"name": "x"}, "unknown key(s) name (base names the mix)"),
    # ranges
    ({"group_rate": -0.5}, "load.mix.group_rate must not be negative (0: no groups), got -0.5"),
    ({"online_s": -5}, "load.mix.online_s must be > 0"),
    ({"op_interval_s": 0}, "load.mix.op_interval_s must be > 0"),
    ({"warmup_s": -1}, "load.mix.warmup_s must not be negative (0: no warm-up)"),
    ({"activity_sigma": -0.1}, "load.mix.activity_sigma must not be negative"),
    ({"group_min": 1}, "load.mix.group_min must be at least 2"),
    ({"burst_mean": 0.5}, "load.mix.burst_mean must be at least 1"),
    ({"read_share": 1.5}, "load.mix.read_share is a share, 0 to 1, got 1.5"),
    ({"airplane_share": -0.1}, "load.mix.airplane_share is a share"),
    ({"device_shares": [0.5, 0.6]}, "load.mix.device_shares must be shares"),
    ({"device_shares": [1.2, -0.2]}, "load.mix.device_shares must be shares"),
    ({"device_shares": []}, "load.mix.device_shares must be shares"),
    ({"sizes": [[0.5, 4, 80], [0.4, 80, 600]]}, "load.mix.sizes must be [share, min_bytes"),
    ({"sizes": [[0, 4, 80], [1, 80, 600]]}, "the first (short texts) > 0"),
    ({"sizes": [[1, 0, 80]]}, "load.mix.sizes: each class needs 0 < min_bytes <= max_bytes"),
    ({"sizes": [[1, 90, 80]]}, "0 < min_bytes <= max_bytes, got [1.0, 90, 80]"),
    ({"sizes": []}, "load.mix.sizes must be [share"),
    ({"burst_gap_s": [2, 1]}, "load.mix.burst_gap_s must be [lo, hi] seconds"),
    ({"burst_gap_s": [-1, 1]}, "load.mix.burst_gap_s must be [lo, hi] seconds"),
    ({"op_weights": {"pin": 1, "dance": 2}}, "unknown op kind(s) dance; known: contact_add"),
    ({"op_weights": {"pin": -1, "unpin": 2}}, "load.mix.op_weights must be weights >= 0"),
    ({"op_weights": {"pin": 0}}, "load.mix.op_weights must be weights >= 0, not all 0"),
    ({"op_weights": {}}, "not all 0"),
    # across keys, blaming the key that was set
    ({"group_min": 400}, "load.mix.group_min: group_min (400) must not exceed group_max (300)"),
    ({"group_max": 2}, "load.mix.group_max: group_min (3) must not exceed group_max (2)"),
    ({"offline_s": 50}, "load.mix.offline_s: max_offline_s (45) must be at least offline_s"),
    ({"max_offline_s": 5}, "load.mix.max_offline_s: max_offline_s (5) must be at least"),
])
def test_bad_values_name_the_key(table: dict[str, Any], words: str) -> None:
    with pytest.raises(MixError) as e:
        parse_mix(table)
    assert words in str(e.value)


def test_zero_where_zero_makes_sense() -> None:
    _, got = parse_mix({"warmup_s": 0, "activity_sigma": 0, "read_share": 0,
                        "burst_gap_s": [0, 0], "op_weights": {"pin": 1, "unpin": 0}})
    assert got["warmup_s"] == 0.0 and got["burst_gap_s"] == (0.0, 0.0)


def test_the_cross_checks_use_the_base() -> None:
    assert parse_mix({"base": "chat", "offline_s": 40})[1] == {"offline_s": 40.0}
    with pytest.raises(MixError, match="max_offline_s .30. must be at least offline_s .40."):
        parse_mix({"base": "churn", "offline_s": 40})


def test_a_name_a_table_or_nothing() -> None:
    assert parse_mix("") == ("", {})
    assert parse_mix("churn") == ("churn", {})
    assert parse_mix({}) == ("chat", {})
    assert parse_mix({"base": "groups-heavy", "contacts": 9}) == ("groups-heavy",
                                                                  {"contacts": 9.0})
    for bad, words in (("disco", "load.mix must be one of chat, groups-heavy"),
                       (["chat"], "load.mix must be a mix name"),
                       ({"base": 3}, "load.mix.base must be one of chat")):
        with pytest.raises(MixError, match=words):
            parse_mix(bad)


def test_the_older_device_shares_key_is_the_same_knob() -> None:
    assert parse_mix("churn", [0.5, 0.5]) == ("churn", {"device_shares": (0.5, 0.5)})
    assert parse_mix("", (1.0,)) == ("", {"device_shares": (1.0,)})
    with pytest.raises(MixError, match="load.device_shares must be shares"):
        parse_mix("", [0.2, 0.2])
    with pytest.raises(MixError, match="load.device_shares and load.mix.device_shares are "
                                       "the same knob"):
        parse_mix({"device_shares": [1.0]}, [1.0])


def test_json_for_the_command_line() -> None:
    overrides = parse_mix({"sizes": [[1, 4, 80]], "op_weights": {"pin": 1}})[1]
    text = to_json(overrides)
    assert text == '{"op_weights":{"pin":1.0},"sizes":[[1.0,4,80]]}'
    assert from_json(text, "x") == overrides and from_json("", "x") == {}
    for bad, words in (("{", "--o: not a JSON object"), ("[1]", "--o must be a JSON object"),
                       ('{"group_rate": -1}', "--o.group_rate must not be negative")):
        with pytest.raises(MixError, match=re.escape(words)):
            from_json(bad, "--o")


# ------------------------------------------------- the overrides reach the users

def locust_options(load: Any, *extra: str) -> argparse.Namespace:
    """The options a Locust process gets from ``imload run`` for this [load]."""
    from imload.users import options as opts
    parser = argparse.ArgumentParser()
    opts.add_options(parser)
    ns = parser.parse_args([*locust_args(load), "--imload-target", "t.toml",
                            "--imload-devices", "300", "--imload-run-id", "r1", *extra])
    opts.resolve_defaults(ns)
    assert opts.check(ns) == []
    return ns


def test_a_scenario_override_changes_the_simulated_people() -> None:
    from imload.users import options as opts
    plain = parse_scenario({"load": {"users": 300}}, Path("/tmp/s.toml")).load
    more = parse_scenario({"load": {"users": 300, "mix": {"group_rate": 0.5,
                                                          "op_interval_s": 5}}},
                          Path("/tmp/s.toml")).load
    o_plain, o_more = locust_options(plain), locust_options(more)
    assert o_plain.imload_mix == "" and o_plain.imload_mix_overrides == ""
    assert o_more.imload_mix == "chat" and "group_rate" in o_more.imload_mix_overrides
    mix = resolve(o_more.imload_mix, opts.mix_overrides(o_more))  # as runtime.mix_for does
    assert (mix.name, mix.group_rate, mix.op_interval_s) == ("chat", 0.5, 5.0)
    assert mix == more.traffic_mix()
    pop_plain = Population.build(300, Mix(), 1)
    pop_more = Population.build(300, mix, 1)
    assert len(pop_more.groups) > 3 * len(pop_plain.groups)

    def ops(pop: Population, mix: Mix) -> int:
        return sum(a.action == "op" for p in range(len(pop.people))
                   for a in device_acts(pop, mix, 1, p, 0, 120.0, 2.0))
    assert ops(pop_more, mix) > 3 * ops(pop_plain, Mix())


RUNTIME = """
import json, sys
import locust  # noqa: F401  (gevent's monkey-patching first, as in a Locust process)
from imload.users import runtime
from imload.users.options import add_options
import argparse
parser = argparse.ArgumentParser()
add_options(parser)
out = {}
for case in json.loads(sys.argv[1]):
    o = parser.parse_args(case)
    mix = runtime.mix_for(o, o.imload_mix or "churn")
    pop = runtime.population_for(o, o.imload_mix or "churn")
    out[" ".join(case)] = [mix.name, mix.group_rate, len(pop.groups),
                           sorted({p.devices for p in pop.people})]
print(json.dumps(out))
"""


def test_the_locust_runtime_builds_the_overridden_people() -> None:
    """In a Locust process (a subprocess: gevent patches ssl on import): runtime.mix_for and
    population_for, which every simulated user asks, carry the overrides."""
    base = ["--imload-devices", "300"]
    table = parse_scenario({"load": {"mix": {"base": "multi-device", "group_rate": 0.5}}},
                           Path("/tmp/s.toml")).load
    legacy = parse_scenario({"load": {"mix": "churn", "device_shares": [0, 0, 1]}},
                            Path("/tmp/s.toml")).load
    cases = [base, [*base, *locust_args(table)], [*base, *locust_args(legacy)]]
    assert "--imload-device-shares" not in locust_args(legacy)  # one path: the JSON
    done = subprocess.run([sys.executable, "-c", RUNTIME, json.dumps(cases)], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    plain, more, shares = json.loads(done.stdout.strip().splitlines()[-1]).values()
    assert plain[:2] == ["churn", MIXES["churn"].group_rate]  # the locustfile's, untouched
    assert more[:2] == ["multi-device", 0.5] and more[2] > 3 * plain[2]
    assert shares[0] == "churn" and shares[3] == [3]


def test_locust_options_are_checked_without_a_traceback() -> None:
    from imload.users import options as opts
    load = parse_scenario({}, Path("/tmp/s.toml")).load
    ns = locust_options(load)
    for bad, words in ((["--imload-mix-overrides", "{nope"], "not a JSON object"),
                       (["--imload-mix-overrides", '{"group_min": 1}'], "group_min must be"),
                       (["--imload-mix-overrides", '{"group_max": 2}'], "must not exceed"),
                       (["--imload-mix-overrides", '{"device_shares": [1]}',
                         "--imload-device-shares", "1"], "the same knob"),
                       (["--imload-device-shares", "a,b"], "--imload-device-shares: ")):
        parser = argparse.ArgumentParser()
        opts.add_options(parser)
        bad_ns = parser.parse_args(["--imload-target", "t.toml", *bad])
        problems = opts.check(argparse.Namespace(**{**vars(ns), **vars(bad_ns)}))
        assert len(problems) == 1 and words in problems[0], (bad, problems)


# ------------------------------------------------------------ docs/traffic.md

DOC = (REPO / "docs" / "traffic.md").read_text(encoding="utf-8")


def toml(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, tuple):
        return "[" + ", ".join(toml(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k} = {toml(x)}" for k, x in v.items()) + "}"
    return str(v)


def expected_range(key: str) -> str | None:
    """What the doc's range column must say of a plain number; None: not a plain number."""
    if HINTS[key] not in (int, float):
        return None
    if key in SHARES:
        return "0 to 1"
    if key in AT_LEAST:
        return f">= {AT_LEAST[key]}"
    return ">= 0" if key in ZERO_OK else "> 0"


def test_the_doc_lists_every_key_with_its_defaults_type_and_range() -> None:
    found = re.search(r"^### `\[load\.mix\]` keys.*?\n(\| key \|.*?)\n\n", DOC, re.S | re.M)
    assert found, "docs/traffic.md has no '### `[load.mix]` keys' table"
    header, _, *rows = found.group(1).splitlines()
    cols = [c.strip() for c in header.strip("|").split("|")]
    assert cols == ["key", "TOML value", *MIXES, "range", "meaning"]
    cells = {}
    for row in rows:
        key, kind, *values, rng, meaning = (c.strip() for c in row.strip("|").split(" | "))
        cells[key.strip("`")] = (kind, values, rng, meaning)
    assert list(cells) == list(KEYS), "the doc's keys differ from the Mix fields"
    chat = MIXES["chat"]
    for key, (kind, values, rng, meaning) in cells.items():
        assert kind == describe(HINTS[key]), key
        want = [f"`{toml(getattr(chat, key))}`"] + [
            "·" if getattr(m, key) == getattr(chat, key) else f"`{toml(getattr(m, key))}`"
            for name, m in MIXES.items() if name != "chat"]
        assert values == want, key
        assert meaning, key
        if expected_range(key) is not None:
            assert rng == expected_range(key), key
