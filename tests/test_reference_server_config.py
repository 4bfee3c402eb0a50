"""The node's command line (reference_server/config.py): the limit flags made from one table
take their defaults from ``Config``, the old names still work, the per-user buckets default to
twice the device's, and a bad value exits 2 with one line naming the flag."""

from __future__ import annotations

from dataclasses import replace

import pytest

from reference_server.config import Config, build_parser, parse_args

BASE = ["--node-id", "n1", "--port", "9000", "--redis", "redis://127.0.0.1:6379/0",
        "--secret", "s"]


def test_every_limit_defaults_to_the_config_field() -> None:
    got = parse_args(BASE)
    want = Config("n1", "127.0.0.1", 9000, "redis://127.0.0.1:6379/0", "s")
    assert replace(got, bugs=want.bugs) == want  # (a BugSet equals only itself)
    helps = {a.dest: a.help for a in build_parser()._actions}
    assert helps["max_outbound_bytes"].endswith("(default 8388608)")
    assert helps["login_rate"].endswith("(default 2000)")
    assert helps["user_rate"].endswith("(default twice --device-rate: 200)")


def test_limits_are_read_with_their_types_and_old_names() -> None:
    got = parse_args([*BASE, "--send-rate", "7.5", "--send-burst", "9", "--max-conns", "5",
                      "--login-fail-window-s", "0.5", "--fanout-burst", "8"])
    assert (got.device_rate, got.device_burst, got.user_rate, got.user_burst) == (7.5, 9, 15.0,
                                                                                  18)
    assert (got.max_conns, got.login_fail_window_s, got.fanout_burst) == (5, 0.5, 8)
    own = parse_args([*BASE, "--device-rate", "7", "--user-rate", "3", "--user-burst", "4"])
    assert (own.device_rate, own.user_rate, own.user_burst) == (7.0, 3.0, 4)


@pytest.mark.parametrize("flag, text, words", [
    ("--max-conns", "0", "'0' must be above 0"), ("--max-conns", "x", "'x' is not an integer"),
    ("--login-rate", "nan", "'nan' must be above 0"), ("--fanout-rate", "x", "is not a number"),
    ("--user-burst", "-1", "must be above 0"), ("--port", "70000", "is not a TCP port"),
])
def test_a_bad_value_exits_2_with_one_line(flag: str, text: str, words: str,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        parse_args([*BASE, flag, text])
    assert done.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"argument {flag}: " in err and words in err
