"""What bounds a group's fan-out (reference_server/fanout.py): the size rule (pure), the
flags, and the per-user bucket of inbox writes on a real Redis."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis
from conftest import unique

from imload.cluster import LocalCluster
from reference_server.config import parse_args
from reference_server.fanout import Fanout, GroupRules
from reference_server.store import Store

NODE = ["--node-id", "n1", "--port", "7101", "--redis", "redis://127.0.0.1:1/0",
        "--secret", "s"]


def test_the_size_rule() -> None:
    rules = GroupRules(3, Fanout(1.0, 1))
    four = ["a", "b", "c", "d"]
    assert "would have 4 members, over the limit of 3" in str(
        rules.too_big("group_create", "g:x", [], four))
    assert rules.too_big("group_create", "g:x", [], four[:3]) is None
    assert rules.too_big("group_add", "g:x", four[:3], four) is not None
    assert rules.too_big("group_add", "g:x", four, four) is None  # already in: no change
    assert rules.too_big("group_remove", "g:x", four, four) is None
    assert GroupRules(3, Fanout(1.0, 1), open=True).too_big("group_create", "g:x", [],
                                                             four) is None


def test_the_flags_make_the_rules_and_bad_values_are_one_line_errors(
        capsys: pytest.CaptureFixture[str]) -> None:
    default = GroupRules.of(parse_args(NODE))
    assert (default.max_size, default.fanout.rate, default.fanout.burst) == (500, 1000, 5000)
    assert not default.open and not default.fanout.off
    config = parse_args([*NODE, "--max-group-size", "3", "--fanout-rate", "2.5",
                         "--fanout-burst", "4", "--bug", "open-groups,no-fanout-limit"])
    rules = GroupRules.of(config)
    assert (rules.max_size, rules.fanout.rate, rules.fanout.burst) == (3, 2.5, 4)
    assert rules.open and rules.fanout.off
    for flag, value in (("--max-group-size", "0"), ("--fanout-rate", "-1"),
                        ("--fanout-burst", "x")):
        with pytest.raises(SystemExit) as e:
            parse_args([*NODE, flag, value])
        assert e.value.code == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and flag in err


@pytest.mark.integration
def test_the_bucket_in_the_store(cluster: LocalCluster) -> None:
    """5 writes deep, refilled at 0.001/s (none during the test): a cost above the bucket
    takes all of it; then one more write waits about 1,000 s; off takes nothing."""

    async def go() -> list[int]:
        store, r = Store(cluster.redis_url), aioredis.Redis.from_url(cluster.redis_url)
        try:
            fan, user = Fanout(0.001, 5), unique("fan")
            return [await fan.charge(store, user, 3), await fan.charge(store, user, 3),
                    await fan.charge(store, user, 2), await fan.charge(store, unique("big"), 100),
                    await Fanout(0.001, 5, off=True).charge(store, user, 100),
                    int(await r.pttl(f"u:{user}:fanout"))]
        finally:
            await store.aclose()
            await r.aclose()

    first, over, rest, big, off, ttl = asyncio.run(go())
    assert (first, rest, big, off) == (0, 0, 0, 0)
    assert 990_000 <= over <= 1_000_000  # (3 - 2) writes at 0.001/s, less what refilled
    assert 4_000_000 < ttl <= 5_001_000  # gone once it would be full again
