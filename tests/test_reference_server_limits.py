"""Request limits per user and per device, and failed logins per address
(reference_server/limits.py): the buckets' Lua on a real Redis, then real nodes: every
request type draws its weight, a refused request is not applied, neither a reconnect nor
another node refills a bucket, and an address that keeps failing to log in is refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import redis
from conftest import OwnNode, WsClient, own_node, unique
from websockets.sync.client import connect

from imload.cluster import LocalCluster
from imload.cluster.processes import free_ports
from imload.protocol import direct_conv, mint_token
from reference_server.limits import WEIGHTS
from reference_server.store import Limit, RateLimited, Store

pytestmark = pytest.mark.integration


def limit(user: str, device: str, weight: int, user_rate: float, user_burst: int,
          device_rate: float, device_burst: int) -> Limit:
    return ([f"rl:u:{user}", f"rl:d:{user}:{device}"],
            [weight, user_rate, user_burst, device_rate, device_burst])


def draws(url: str, *limits: Limit) -> list[tuple[int, str] | None]:
    """Draw each limit in turn: None when taken, else (retry_after_ms, bucket)."""
    async def run() -> list[tuple[int, str] | None]:
        store = Store(url)
        out: list[tuple[int, str] | None] = []
        try:
            for lim in limits:
                try:
                    await store.take(lim)
                    out.append(None)
                except RateLimited as e:
                    out.append((e.wait_ms, e.bucket))
        finally:
            await store.aclose()
        return out
    return asyncio.run(run())


def test_a_bucket_draws_until_empty_then_refuses_without_drawing(
        cluster: LocalCluster) -> None:
    user = unique("rl")
    one = limit(user, "d1", 1, 1, 100, 2, 5)
    got = draws(cluster.redis_url, *[one] * 7)
    assert got[:5] == [None] * 5
    for refused in got[5:]:  # the device's: 1 token at 2/s comes in about 500 ms
        assert refused is not None and refused[1] == "device" and 400 <= refused[0] <= 500
    r = redis.Redis.from_url(cluster.redis_url, decode_responses=True)
    assert float(r.hget(f"rl:d:{user}:d1", "tokens") or 0) < 1  # the refusals drew nothing
    assert 95 - 1 < float(r.hget(f"rl:u:{user}", "tokens") or 0) <= 95 + 1
    # a bucket lives as long as it takes to fill, then is gone (a missing one is full)
    assert 0 < r.pttl(f"rl:d:{user}:d1") <= 5 / 2 * 1000 + 1000
    assert 0 < r.pttl(f"rl:u:{user}") <= 5 / 1 * 1000 + 1000


def test_a_weight_over_the_burst_is_capped_and_the_user_bucket_spans_devices(
        cluster: LocalCluster) -> None:
    user = unique("rl")
    heavy = limit(user, "d1", 5, 0.01, 4, 0.01, 3)  # weighs more than either bucket holds
    assert draws(cluster.redis_url, heavy) == [None]
    phone, laptop = (limit(user + "x", d, 1, 0.01, 3, 0.01, 2) for d in ("phone", "laptop"))
    got = draws(cluster.redis_url, phone, phone, laptop, laptop)
    assert got[:3] == [None, None, None]
    assert got[3] is not None and got[3][1] == "user"  # the laptop's own bucket still holds 1


def test_a_refusal_says_when_the_weight_will_be_there(cluster: LocalCluster) -> None:
    user = unique("rl")
    fast = limit(user, "d1", 1, 1000, 2, 50, 2)
    got = draws(cluster.redis_url, fast, fast, fast)
    assert got[2] is not None and 1 <= got[2][0] <= 20
    deadline = time.monotonic() + 5  # the weight comes back at the rate: taken once told
    time.sleep(got[2][0] / 1000)
    while draws(cluster.redis_url, fast) != [None]:
        assert time.monotonic() < deadline
        time.sleep(0.02)


def test_failed_logins_of_an_address_are_counted_in_a_window(cluster: LocalCluster) -> None:
    addr = f"198.51.100.{random.randrange(1, 250)}-{unique()}"

    async def run() -> tuple[list[int], list[int]]:
        store = Store(cluster.redis_url)
        try:
            gates, counts = [], []
            for _ in range(3):
                gates.append(await store.login_gate(addr, 3))
                counts.append(await store.login_failed(addr, 30_000))
            gates.append(await store.login_gate(addr, 3))
            return gates, counts
        finally:
            await store.aclose()
    gates, counts = asyncio.run(run())
    assert counts == [1, 2, 3] and gates[:3] == [0, 0, 0]
    assert 25_000 < gates[3] <= 30_000  # refused until the window, from the first, ends


# -- on real nodes ------------------------------------------------------------------------

SLOW = ("--device-rate", "0.01", "--device-burst", "10")  # 10 tokens, about none refilled
FRAMES: dict[str, Any] = {
    "send": lambda me, other, i: {"cmid": f"c{i}", "conv": direct_conv(me, other),
                                  "body": "x"},
    "read": lambda me, other, i: {"conv": direct_conv(me, other), "upto": 0},
    "op": lambda me, other, i: {"opid": f"o{i}", "kind": "contact_add",
                                "args": {"user": other}},
    "ping": lambda me, other, i: {},
    "sync": lambda me, other, i: {"after": 0},
    "reads": lambda me, other, i: {},
    "state": lambda me, other, i: {},
}


def served_until_refused(c: WsClient, t: str, me: str, other: str, most: int = 30
                         ) -> tuple[int, dict[str, Any]]:
    """Requests of type ``t`` answered before the first rate_limited, and that error."""
    for i in range(most):
        reply = c.request(t, **FRAMES[t](me, other, i))
        if reply["t"] == "error":
            assert reply["code"] == "rate_limited", reply
            return i, reply
    raise AssertionError(f"{most} {t} requests, none refused")


def test_every_request_type_draws_its_weight_and_a_refused_one_is_not_applied(
        cluster: LocalCluster, tmp_path: Path) -> None:
    with own_node(cluster, tmp_path, *SLOW) as node, contextlib.ExitStack() as st:
        for t in FRAMES:
            me, other = unique(t), unique("peer")
            served, refused = served_until_refused(node.client(st, me), t, me, other)
            assert served == 10 // WEIGHTS[t], t
            assert 0 < refused["retry_after_ms"] and "device" in refused["msg"]
        # a refused send is not stored, a refused op not applied
        me, other = unique("alice"), unique("bob")
        a = node.client(st, me)
        assert served_until_refused(a, "send", me, other)[0] == 10
        assert node.client(st, other).request("sync", after=0)["upto"] == 10
        # the ack (no rid): refused with an error that names no rid
        acker = node.client(st, unique("acker"))
        for _ in range(11):
            acker.send({"t": "ack", "upto": 0})
        error = acker.expect("error")
        assert error["code"] == "rate_limited" and "rid" not in error


def test_neither_a_reconnect_nor_another_node_refills_a_device(
        cluster: LocalCluster, tmp_path: Path) -> None:
    me, other = unique("alice"), unique("bob")
    with own_node(cluster, tmp_path, *SLOW) as n1, own_node(cluster, tmp_path, *SLOW) as n2, \
            contextlib.ExitStack() as st:
        assert served_until_refused(n1.client(st, me), "ping", me, other)[0] == 10
        again = n1.client(st, me)  # a new connection of the device: 4001 for the old one
        assert again.request("ping")["code"] == "rate_limited"
        elsewhere = n2.client(st, me)
        assert elsewhere.request("ping")["code"] == "rate_limited"
        # another device of the same user has its own bucket (the user's holds 20)
        laptop = n2.client(st, me, device="laptop")
        assert laptop.request("ping")["t"] == "pong"


def test_the_per_connection_limits_bug_mode_refills_on_reconnect(
        cluster: LocalCluster, tmp_path: Path) -> None:
    me, other = unique("alice"), unique("bob")
    with own_node(cluster, tmp_path, "--bug", "per-connection-limits", *SLOW) as node, \
            contextlib.ExitStack() as st:
        first = node.client(st, me)
        served, refused = served_until_refused(first, "send", me, other)
        assert served == 10 and "connection" in refused["msg"]
        assert all(first.request("ping")["t"] == "pong" for _ in range(30))  # unlimited
        assert served_until_refused(node.client(st, me), "send", me, other)[0] == 10


def loopback_address() -> str:
    """A random loopback address other than 127.0.0.1 (every other test's)."""
    return f"127.{random.randrange(1, 255)}.{random.randrange(1, 255)}.{random.randrange(2, 255)}"


@contextlib.contextmanager
def from_address(node: OwnNode, redis_url: str, addr: str | None = None
                 ) -> Iterator[tuple[str, Any]]:
    """A loopback address of this test's own to connect from (the failed-login limit is
    per address: 127.0.0.1 is every other test's; ``loopback_address`` unless given), and
    a login through it, with an ``X-Forwarded-For`` header when given: the reply, or
    ``{"t": "closed", "code": ...}``. The counters of the address and of every address a
    header named are deleted at the end."""
    source = addr or loopback_address()
    named = {source}

    def login(token: str, forwarded: str | None = None) -> dict[str, Any]:
        headers = {} if forwarded is None else {"X-Forwarded-For": forwarded}
        named.update(hop.strip() for hop in (forwarded or "").split(",") if hop.strip())
        with connect(node.url, open_timeout=5, close_timeout=1, source_address=(source, 0),
                     additional_headers=headers) as ws:
            c = WsClient(ws)
            reply = c.request("login", token=token)
            if reply["t"] == "error":
                reply["close"] = c.closed_with()
            return reply
    try:
        yield source, login
    finally:
        redis.Redis.from_url(redis_url).delete(*(f"rl:ip:{a}" for a in named))


def test_an_address_that_keeps_failing_logins_is_refused_until_its_window_ends(
        cluster: LocalCluster, tmp_path: Path) -> None:
    me = unique("alice")
    with own_node(cluster, tmp_path, "--login-fails", "3", "--login-fail-window-s", "3"
                  ) as node, from_address(node, cluster.redis_url) as (addr, login):
        bad, good = mint_token("not-" + cluster.secret, me, "d1"), mint_token(
            cluster.secret, me, "d1")
        started = time.monotonic()
        for _ in range(3):
            reply = login(bad)
            assert (reply["code"], reply["close"]) == ("unauthenticated", 4002)
        refused = login(good)  # valid, but the address is over its limit: not even looked at
        assert (refused["code"], refused["close"]) == ("rate_limited", 4029)
        assert 0 < refused["retry_after_ms"] <= 3000 and addr in refused["msg"]
        assert time.monotonic() - started < 3, "the machine is too slow for this window"
        with contextlib.ExitStack() as st:  # other addresses are not refused
            assert node.client(st, me)  # logged in from 127.0.0.1
        time.sleep(refused["retry_after_ms"] / 1000)  # the node said when
        deadline = time.monotonic() + 5
        while (reply := login(good))["t"] != "login_ok":
            assert reply["code"] == "rate_limited" and time.monotonic() < deadline
            time.sleep(0.05)
    assert "too many failed logins" in node.log.read_text()


def test_the_no_login_limit_bug_mode_serves_every_failed_login(
        cluster: LocalCluster, tmp_path: Path) -> None:
    me = unique("alice")
    with own_node(cluster, tmp_path, "--bug", "no-login-limit", "--login-fails", "3"
                  ) as node, from_address(node, cluster.redis_url) as (_, login):
        bad = mint_token("not-" + cluster.secret, me, "d1")
        assert all(login(bad)["code"] == "unauthenticated" for _ in range(10))
        assert login(mint_token(cluster.secret, me, "d1"))["t"] == "login_ok"


def test_without_a_store_the_limit_lets_a_ping_through(cluster: LocalCluster,
                                                       tmp_path: Path) -> None:
    port = free_ports("127.0.0.1", 1)[0]
    store = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                              "--save", "", "--appendonly", "no"], stdout=subprocess.DEVNULL)
    try:
        url = f"redis://127.0.0.1:{port}/0"
        deadline = time.monotonic() + 10
        while True:
            with contextlib.suppress(redis.ConnectionError):
                if redis.Redis.from_url(url).ping():
                    break
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.05)
        private = SimpleNamespace(redis_url=url, secret=cluster.secret)
        with own_node(private, tmp_path) as node, contextlib.ExitStack() as st:  # type: ignore[arg-type]
            c = node.client(st, unique("alice"))
            assert c.request("ping")["t"] == "pong"
            store.terminate()
            store.wait(10)
            for _ in range(3):  # in flight when the store went, then with no store at all
                assert c.request("ping")["t"] == "pong"
            assert c.request("state")["code"] == "internal"  # it needs the store itself
    finally:
        if store.poll() is None:
            store.kill()
            store.wait(10)
