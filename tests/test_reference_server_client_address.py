"""Who the client is behind a proxy (reference_server/client_address.py): the pure rules
first, then a real node started with ``--trusted-proxies``, whose failed-login limit counts
two clients behind one proxy apart, and a node without the flag, which ignores the
header."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
from conftest import own_node, unique
from test_reference_server_limits import from_address, loopback_address

from imload.cluster import LocalCluster
from imload.protocol import mint_token
from reference_server.client_address import (
    client_address,
    forwarded_for,
    name_peer,
    parse_proxies,
)
from reference_server.config import parse_args

PROXIES = parse_proxies("10.0.0.0/8, 192.0.2.7,::1")


def test_proxies_are_addresses_and_blocks_and_anything_else_is_one_clear_line() -> None:
    assert [str(n) for n in PROXIES] == ["10.0.0.0/8", "192.0.2.7/32", "::1/128"]
    assert parse_proxies("") == () == parse_proxies(" , ")
    assert str(parse_proxies("10.1.2.3/8")[0]) == "10.0.0.0/8"  # host bits are forgiven
    for bad in ("proxy.example", "10.0.0.0/33", "1.2.3.4:80"):
        with pytest.raises(ValueError, match=f"{bad!r} is not an IP address or CIDR block"):
            parse_proxies(f"127.0.0.1,{bad}")


def test_the_node_refuses_a_bad_list_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    base = ["--node-id", "n1", "--port", "1", "--redis", "redis://x:1/0", "--secret", "s"]
    assert parse_args(base).trusted_proxies == ()
    assert parse_args([*base, "--trusted-proxies", "127.0.0.1"]).trusted_proxies == \
        parse_proxies("127.0.0.1")
    with pytest.raises(SystemExit) as stop:
        parse_args([*base, "--trusted-proxies", "10.0.0.1,nope"])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and err.count("\n") == 1
    assert "--trusted-proxies: 'nope' is not an IP address or CIDR block" in err


@pytest.mark.parametrize(("peer", "header", "client"), [
    ("203.0.113.9", ["198.51.100.1"], "203.0.113.9"),  # not a proxy: the header is ignored
    ("10.0.0.2", [], "10.0.0.2"),  # a proxy that names nobody
    ("10.0.0.2", ["198.51.100.1"], "198.51.100.1"),
    ("10.0.0.2", ["6.6.6.6, 198.51.100.1"], "198.51.100.1"),  # the client's own lie: left
    ("10.0.0.2", ["198.51.100.1, 10.9.9.9"], "198.51.100.1"),  # through two proxies
    ("10.0.0.2", ["198.51.100.1", "10.9.9.9"], "198.51.100.1"),  # two lines: one list
    ("10.0.0.2", ["garbage, 198.51.100.1"], "198.51.100.1"),  # left of the client: unread
    ("10.0.0.2", ["198.51.100.1, garbage"], "10.0.0.2"),  # unreadable: the peer
    ("10.0.0.2", ["198.51.100.1:4711"], "10.0.0.2"),  # a port is not an address
    ("10.0.0.2", ["unknown"], "10.0.0.2"),
    ("10.0.0.2", ["\x00\xff;;"], "10.0.0.2"),
    ("10.0.0.2", [",, 198.51.100.1 ,"], "198.51.100.1"),  # empty elements are allowed
    ("10.0.0.2", ["10.7.7.7, 10.8.8.8"], "10.7.7.7"),  # every hop a proxy: the first
    ("::1", ["2001:DB8::1"], "2001:db8::1"),  # canonical form
    ("::ffff:10.0.0.2", ["198.51.100.1"], "198.51.100.1"),  # an IPv4-mapped proxy
    ("::ffff:203.0.113.9", [], "203.0.113.9"),
    ("?", ["198.51.100.1"], "?"),  # no address at all
])
def test_the_client_is_the_rightmost_hop_no_proxy_wrote(peer: str, header: list[str],
                                                        client: str) -> None:
    assert client_address(peer, header, PROXIES) == client


def test_without_trusted_proxies_the_header_is_never_read() -> None:
    assert client_address("10.0.0.2", ["198.51.100.1"], ()) == "10.0.0.2"

    class Exploding:
        @property
        def headers(self) -> Any:
            raise AssertionError("read the header")

    assert forwarded_for(Exploding(), ()) == []  # type: ignore[arg-type]


def test_log_lines_name_the_client_and_the_proxy_it_came_through() -> None:
    assert name_peer(("10.0.0.2", 5555), ["198.51.100.1"], PROXIES) == (
        "198.51.100.1 via 10.0.0.2:5555", "198.51.100.1")
    assert name_peer(("203.0.113.9", 5555), ["198.51.100.1"], PROXIES) == (
        "203.0.113.9:5555", "203.0.113.9")
    assert name_peer(("::1", 5555, 0, 0), [], PROXIES) == ("::1:5555", "::1")
    assert name_peer(None, ["198.51.100.1"], PROXIES) == ("?:?", "?")


# -- on a real node ---------------------------------------------------------------------------


@pytest.mark.integration
def test_clients_behind_a_trusted_proxy_are_counted_apart_and_nobody_else_can_say_so(
        cluster: LocalCluster, tmp_path: Path) -> None:
    me = unique("alice")
    bad = mint_token("not-" + cluster.secret, me, "d1")
    good = mint_token(cluster.secret, me, "d1")
    proxy = loopback_address()
    one, two = (f"{net}.{random.randrange(1, 255)}" for net in ("198.51.100", "203.0.113"))
    with own_node(cluster, tmp_path, "--trusted-proxies", f"{proxy}/32",
                  "--login-fails", "2", "--login-fail-window-s", "60") as node, \
            from_address(node, cluster.redis_url, proxy) as (_, via_proxy), \
            from_address(node, cluster.redis_url) as (stranger, direct):
        for _ in range(2):  # the first client, behind the proxy, fails its limit
            assert via_proxy(bad, f"6.6.6.{random.randrange(1, 255)}, {one}")["close"] == 4002
        refused = via_proxy(good, one)
        assert (refused["code"], refused["close"]) == ("rate_limited", 4029)
        assert f"too many failed logins from {one};" in refused["msg"]
        assert via_proxy(good, two)["t"] == "login_ok"  # the second is counted apart
        # a peer that is no trusted proxy cannot name another client to dodge its limit
        assert [direct(bad, f"192.0.2.{i}")["close"] for i in range(1, 3)] == [4002, 4002]
        assert direct(good, "192.0.2.99")["code"] == "rate_limited"
        assert via_proxy(good, "not an address")["t"] == "login_ok"  # the proxy's own count
    log = node.log.read_text()
    assert f"auth failed peer={one} via {proxy}:" in log
    assert f"login refused peer={one} via {proxy}:" in log
    assert f"peer={stranger}:" in log and "192.0.2." not in log


@pytest.mark.integration
def test_without_the_flag_the_header_is_ignored(cluster: LocalCluster, tmp_path: Path) -> None:
    me = unique("alice")
    bad = mint_token("not-" + cluster.secret, me, "d1")
    with own_node(cluster, tmp_path, "--login-fails", "2", "--login-fail-window-s", "60"
                  ) as node, from_address(node, cluster.redis_url) as (source, login):
        assert [login(bad, f"198.51.100.{i}")["close"] for i in range(1, 3)] == [4002, 4002]
        refused = login(mint_token(cluster.secret, me, "d1"), "198.51.100.3")
        assert (refused["code"], refused["close"]) == ("rate_limited", 4029)
        assert f"from {source};" in refused["msg"]
