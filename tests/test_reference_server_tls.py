"""TLS (reference_server/tls.py): a local cluster with ``tls=True`` serves wss:// and
https:// with a throwaway CA that the target file names, through Toxiproxy."""

from __future__ import annotations

import json
import ssl
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import client_factory, unique
from websockets.sync.client import connect

from imload.cluster import LocalCluster, load_target
from imload.protocol import direct_conv

pytestmark = pytest.mark.integration


def test_a_tls_cluster_serves_wss_and_https_verified_by_its_ca(tmp_path: Path) -> None:
    c = LocalCluster(tmp_path, nodes=1, tls=True)
    c.start()
    try:
        target = load_target(tmp_path / "target.toml")
        assert 'ca = "ca.pem"' in (tmp_path / "target.toml").read_text()
        assert target.ca == tmp_path / "ca.pem" and target.ca.is_file()
        assert target.nodes[0].url.startswith("wss://127.0.0.1:")
        assert target.lbs is not None and target.lbs.startswith("https://")
        ctx = ssl.create_default_context(cafile=str(target.ca))
        with client_factory(c) as open_client:  # through the proxy: TLS passes as TCP
            alice, bob = unique("alice"), unique("bob")
            a = open_client(alice)
            b = open_client(bob, direct=True)
            ack = a.request("send", cmid="c1", conv=direct_conv(alice, bob), body="secret")
            assert b.push()["mid"] == ack["mid"]
        route = f"{target.lbs}/v1/route?user=a&device=b"
        for _ in range(100):  # the node reports at start: at once, or within a second
            with urllib.request.urlopen(route, timeout=5, context=ctx) as r:
                nodes = json.loads(r.read())["nodes"]
            if nodes:
                break
            time.sleep(0.1)
        assert [n["url"] for n in nodes] == [target.nodes[0].url]
        with pytest.raises(ssl.SSLCertVerificationError):  # not trusted without the CA
            connect(target.nodes[0].url, open_timeout=5,
                    ssl=ssl.create_default_context()).close()
        with pytest.raises(Exception):  # noqa: B017 (plain ws:// to a TLS node: no handshake)
            connect(target.nodes[0].url.replace("wss://", "ws://"), open_timeout=5).close()
    finally:
        c.stop()
    for name in ("n1", "lbs"):
        assert "Traceback" not in Path(c.parts[name].log).read_text()


def test_certificates_name_this_host(tmp_path: Path) -> None:
    from reference_server.tls import make_certificates, server_context

    ca, chain, key = make_certificates(tmp_path)
    assert server_context(str(chain), str(key)).minimum_version == ssl.TLSVersion.TLSv1_2
    assert ca.read_text().startswith("-----BEGIN CERTIFICATE-----")
    assert oct(key.stat().st_mode & 0o777) == "0o600"
