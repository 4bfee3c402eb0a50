"""The ejabberd backend: its config writer and command lines (no I/O), the target files
(WebSocket and TCP with STARTTLS), the registry, and two real clustered ejabberd nodes
behind Toxiproxy (integration: start, register over each node's proxy, a conflict across
nodes, two devices chatting over TCP with STARTTLS, kill and restart a node, stop with
nothing left)."""

from __future__ import annotations

import os
import shutil
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
from cluster_helpers import (
    chat_over_tls,
    gone,
    groups_chat,
    open_stream,
    recorded_pids,
    send_register,
    start_fails,
    xmpp_target_parses_back,
)

from imload.cli import build_parser
from imload.cluster.backends import BACKENDS, load_cluster, new_cluster, recorded_backend
from imload.cluster.backends import ejabberd as ejabberd_module
from imload.cluster.backends import ejabberd_config as cfg
from imload.cluster.backends.ejabberd import EjabberdCluster, make_certificates
from imload.cluster.backends.ejabberd_config import (
    EjabberdSettings,
    Installation,
    ctl_command,
    ejabberd_config,
    erlang_string,
    find_ejabberd,
    modules,
    node_command,
    node_env,
    script_value,
)
from imload.cluster.processes import ClusterError, Part
from imload.cluster.target import load_target, write_target
from imload.faults.toxiproxy import ToxiproxyAPI


def _settings(smacks: bool = True, auth_cache: bool = False,
              tls: tuple[Path, ...] | None = None) -> EjabberdSettings:
    return EjabberdSettings(directory=Path("/d/ejabberd/n1"), name="n1", c2s_port=15222,
                            http_port=15280, smacks=smacks, auth_cache=auth_cache, tls=tls)


def _code(text: str) -> str:
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))


# -- the config writer and the command lines (no I/O) ---------------------------------------

def test_config_listens_on_loopback_ports_without_tls_or_s2s() -> None:
    text = _code(ejabberd_config(_settings()))
    assert 'hosts:\n  - "localhost"' in text
    c2s = "    port: 15222\n    ip: \"127.0.0.1\"\n    module: ejabberd_c2s\n"
    assert c2s in text and "starttls_required: false" in text
    http = "    port: 15280\n    ip: \"127.0.0.1\"\n    module: ejabberd_http\n"
    assert http in text and '"/xmpp-websocket": ejabberd_http_ws' in text
    assert "certfiles" not in text and "tls: true" not in text and "s2s_access: none" in text
    assert "ejabberd_s2s_in" not in text and "shaper" not in text
    assert '- "x-oauth2"' in text and '- "digest-md5"' in text
    assert "auth_method: internal" in text and "auth_password_format: scram" in text


def test_config_offers_starttls_on_c2s_only_with_a_certificate() -> None:
    text = _code(ejabberd_config(_settings(tls=(Path("/d/tls/server.pem"),
                                                Path("/d/tls/server.key")))))
    assert 'certfiles:\n  - "/d/tls/server.pem"\n  - "/d/tls/server.key"\n' in text
    c2s = text.split("module: ejabberd_c2s\n", 1)[1].split("  -\n", 1)[0]
    assert "    starttls: true\n    starttls_required: false\n" in c2s
    http = text.split("module: ejabberd_http\n", 1)[1]
    assert "tls" not in http.split("s2s_access", 1)[0]  # the websocket stays plain
    assert "starttls: true" not in _code(ejabberd_config(_settings()))


def test_certificate_names_the_host_and_the_domain_and_expires_in_ten_years(
        tmp_path: Path) -> None:
    import datetime

    from cryptography import x509

    ca, chain, key = make_certificates(tmp_path, ("127.0.0.1", "localhost"))
    cert = x509.load_pem_x509_certificate(chain.read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(ip) for ip in names.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert names.get_values_for_type(x509.DNSName) == ["localhost"]
    # trustme's default expiry (the year 3000) crashes ejabberd's pkix (an Erlang timer)
    left = cert.not_valid_after_utc - datetime.datetime.now(datetime.UTC)
    assert 3600 < left.days <= 3650
    assert ca.is_file() and key.stat().st_mode & 0o777 == 0o600


def test_config_registers_without_a_throttle_and_archives_everything() -> None:
    text = _code(ejabberd_config(_settings()))
    assert "registration_timeout: infinity" in text  # default: 1 account per IP per 600 s
    assert "  mod_register:\n    access: all" in text and "    ip_access: all" in text
    assert "  mod_mam:\n    db_type: mnesia\n    default: always" in text
    assert '  mod_muc:\n    host: "conference.localhost"' in text
    assert "default_room_options:\n      mam: true" in text
    for name in ("mod_carboncopy", "mod_ping", "mod_offline", "mod_roster", "mod_disco"):
        assert f"  {name}:" in text
    assert "max_user_sessions" not in text and "max_user_offline_messages" not in text


def test_config_smacks_on_and_off() -> None:
    on, off = ejabberd_config(_settings(smacks=True)), ejabberd_config(_settings(smacks=False))
    assert "  mod_stream_mgmt:\n    resume_timeout: 300" in on
    assert "mod_stream_mgmt" not in off
    assert sorted([*modules(_settings(smacks=False)), "mod_stream_mgmt"]) == modules(_settings())


def test_config_turns_the_auth_cache_off_unless_asked() -> None:
    assert "auth_use_cache: false" in _code(ejabberd_config(_settings()))
    assert "auth_use_cache" not in _code(ejabberd_config(_settings(auth_cache=True)))


def test_node_command_and_environment() -> None:
    s = _settings()
    cmd = node_command(s, "/usr/bin/erl")
    assert cmd[:5] == ["/usr/bin/erl", "-name", "n1@127.0.0.1", "-start_epmd", "false"]
    assert cmd[5:8] == ["-kernel", "inet_dist_use_interface", "{127,0,0,1}"]
    assert cmd[-5:] == ["-mnesia", "dir", '"/d/ejabberd/n1/spool"', "-s", "ejabberd"]
    assert "-noinput" in cmd and "-detached" not in cmd
    env = node_env(s, {"PATH": "/bin", "ERL_FLAGS": "-x", "ERL_LIBS": "/other"},
                   Path("/d/ejabberd"), 4369, "/usr/lib/x86_64-linux-gnu")
    assert "ERL_FLAGS" not in env and env["PATH"] == "/bin"
    assert env["HOME"] == "/d/ejabberd" and env["ERL_EPMD_PORT"] == "4369"
    assert env["ERL_LIBS"] == "/usr/lib/x86_64-linux-gnu"
    assert env["EJABBERD_CONFIG_PATH"] == "/d/ejabberd/n1/ejabberd.yml"
    assert env["EJABBERD_LOG_PATH"] == "/d/ejabberd/n1/log/ejabberd.log"
    assert env["ERL_CRASH_DUMP_BYTES"] == "0"
    assert ctl_command("/usr/bin/erl", "127.0.0.1", "ctl-1", "n2@127.0.0.1",
                       ("join_cluster", "n1@127.0.0.1"))[-5:] == [
        "ejabberd_ctl", "-extra", "n2@127.0.0.1", "join_cluster", "n1@127.0.0.1"]
    assert erlang_string('a"b\\c') == '"a\\"b\\\\c"'


def test_script_value_reads_ejabberdctl() -> None:
    text = 'ERL="/usr/bin/erl"\nEPMD="/usr/bin/epmd"\nERL_LIBS=\'/usr/lib/x\'\nX=1\n'
    assert script_value(text, "ERL") == "/usr/bin/erl"
    assert script_value(text, "EPMD") == "/usr/bin/epmd"
    assert script_value(text, "ERL_LIBS") == "/usr/lib/x"
    assert script_value(text, "IEX") is None


def test_missing_ejabberd_without_root_says_how_to_install(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cfg.shutil, "which", lambda name: None)
    monkeypatch.setattr(cfg, "EJABBERDCTL", "/nonexistent/ejabberdctl")
    with pytest.raises(ClusterError, match="install-package.sh ejabberd"):
        find_ejabberd(install=False)


# -- the registry, the CLI and the target file -----------------------------------------------

def test_registry_and_cli_know_the_backend(tmp_path: Path) -> None:
    assert BACKENDS["ejabberd"] is EjabberdCluster
    args = build_parser().parse_args(["cluster", "up", "--dir", "x", "--backend", "ejabberd"])
    assert args.backend == "ejabberd"
    with pytest.raises(ClusterError, match="ejabberd backend does not take tls"):
        new_cluster("ejabberd", tmp_path, tls=True)
    with pytest.raises(ClusterError, match="1 to 9 nodes"):
        new_cluster("ejabberd", tmp_path, nodes=0)
    with pytest.raises(ClusterError, match="speaks xmpp, xmpp-tcp"):
        new_cluster("ejabberd", tmp_path, protocol="smtp")
    cluster = new_cluster("ejabberd", tmp_path, smacks=False, nodes=3)
    assert isinstance(cluster, EjabberdCluster) and cluster.node_names == ["n1", "n2", "n3"]


def _fake_cluster(directory: Path, protocol: str = "xmpp") -> EjabberdCluster:
    cluster = EjabberdCluster(directory, smacks=False, protocol=protocol)
    cluster.c2s_ports = {"n1": 15222, "n2": 16222}
    cluster.c2s_proxy_ports = {"n1": 15223, "n2": 16223}
    cluster.install = Installation("/usr/sbin/ejabberdctl", "/usr/bin/erl", "/usr/bin/epmd",
                                   "/usr/lib/x86_64-linux-gnu", "23.01")
    cluster.parts = {
        "toxiproxy": Part("toxiproxy", "toxiproxy", 18474, ["toxiproxy-server"], "t.log"),
        "epmd": Part("epmd", "epmd", 14369, ["epmd"], "epmd.log"),
        "n1": Part("n1", "node", 15280, ["erl"], "n1.log", proxy_port=15281),
        "n2": Part("n2", "node", 16280, ["erl"], "n2.log", proxy_port=16281),
    }
    return cluster


def test_target_file_parses_back(tmp_path: Path) -> None:
    n1, n2 = xmpp_target_parses_back(_fake_cluster(tmp_path), tmp_path).nodes
    assert (n1.name, n1.proxy, n2.name, n2.proxy) == ("n1", "n1", "n2", "n2")
    assert n1.url == "ws://127.0.0.1:15281/xmpp-websocket"
    assert n2.url == "ws://127.0.0.1:16281/xmpp-websocket"
    assert n2.extra["direct_url"] == "ws://127.0.0.1:16280/xmpp-websocket"
    assert n2.extra["c2s"] == "127.0.0.1:16222" and n2.extra["erlang_node"] == "n2@127.0.0.1"


def test_the_tcp_target_dials_c2s_through_its_proxy_and_trusts_the_cluster_ca(
        tmp_path: Path) -> None:
    cluster = _fake_cluster(tmp_path, protocol="xmpp-tcp")
    write_target(cluster.target(), tmp_path / "target.toml")  # the cluster's protocol
    target = load_target(tmp_path / "target.toml")
    assert target.protocol == "xmpp-tcp" and target.protocol_options["domain"] == "localhost"
    assert target.ca == tmp_path / "ca.pem"
    n1, n2 = target.nodes
    assert (n1.url, n1.proxy) == ("tcp://127.0.0.1:15223", "n1-c2s")
    assert (n2.url, n2.proxy) == ("tcp://127.0.0.1:16223", "n2-c2s")
    assert n2.extra["c2s"] == "127.0.0.1:16222"
    assert n1.kill == f"kill -s KILL $(cat {tmp_path.resolve()}/pids/n1.pid)"
    assert cluster.target("xmpp").nodes[0].url == "ws://127.0.0.1:15281/xmpp-websocket"
    assert cluster.target("xmpp").ca is None
    assert [p[0] for p in cluster._node_proxies(cluster.parts["n2"])] == ["n2", "n2-c2s"]
    assert cluster._node_proxies(cluster.parts["n2"])[1][1:] == ("127.0.0.1:16223",
                                                                 "127.0.0.1:16222")


def test_load_cluster_picks_the_ejabberd_class(tmp_path: Path) -> None:
    cluster = _fake_cluster(tmp_path, protocol="xmpp-tcp")
    cluster._save()
    assert recorded_backend(tmp_path) == "ejabberd"
    loaded = load_cluster(tmp_path)
    assert isinstance(loaded, EjabberdCluster)
    assert loaded.parts == cluster.parts and loaded.install == cluster.install
    assert loaded.c2s_ports == cluster.c2s_ports and not loaded.smacks
    assert loaded.c2s_proxy_ports == cluster.c2s_proxy_ports
    assert loaded.protocol == "xmpp-tcp"
    assert (tmp_path / "pids" / "n2.pid").read_text() == ""
    with pytest.raises(ClusterError, match="no node 'p1'.*nodes: n1, n2"):
        loaded.kill_node("p1")


# -- two real ejabberd nodes -----------------------------------------------------------------

def _installed() -> None:
    """Skip when ejabberd is absent and we are not root; as root, install it."""
    if shutil.which("ejabberdctl") is None and not os.access(cfg.EJABBERDCTL, os.X_OK) \
            and os.geteuid() != 0:
        pytest.skip("ejabberd is not installed and we are not root "
                    "(sudo scripts/install-package.sh ejabberd)")
    find_ejabberd()


def _family(pids: list[int]) -> set[int]:
    """``pids`` and all their descendants (beam.smp's erl_child_setup, inet_gethost)."""
    parents: dict[int, int] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                parents[int(d.name)] = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    found, grew = set(pids), True
    while grew:
        more = {pid for pid, ppid in parents.items() if ppid in found} - found
        found |= more
        grew = bool(more)
    return found


def _register(url: str, user: str) -> ET.Element:
    """Register ``user`` (XEP-0077) on a new stream; return the answer."""
    ws, features = open_stream(url)
    try:
        assert features.find("{http://jabber.org/features/iq-register}register") is not None
        return send_register(ws, user, "p")
    finally:
        ws.close()


def _conflict(answer: ET.Element) -> bool:
    return answer.get("type") == "error" and answer.find(".//{*}conflict") is not None


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EjabberdCluster]:
    """One two-node cluster shared by the integration tests below (they run in order)."""
    _installed()
    c = EjabberdCluster(tmp_path_factory.mktemp("ejabberd"))
    c.start()
    try:
        yield c
    finally:
        c.stop()


@pytest.mark.integration
def test_both_nodes_answer_through_their_proxies_and_share_accounts(
        cluster: EjabberdCluster) -> None:
    assert sorted(ToxiproxyAPI(cluster.toxiproxy_api).proxy_names()) == [
        "n1", "n1-c2s", "n2", "n2-c2s"]
    target = load_target(cluster.target_path)  # protocol "xmpp": target-xmpp.toml's
    assert target.protocol == "xmpp" and target.ca is None
    assert load_target(cluster.directory / "target-xmpp.toml").nodes == target.nodes
    assert [n.name for n in target.nodes] == ["n1", "n2"]
    for node in target.nodes:
        ws, features = open_stream(node.url)
        ws.close()
        mechanisms = [m.text for m in features.iter(
            "{urn:ietf:params:xml:ns:xmpp-sasl}mechanism")]
        assert "PLAIN" in mechanisms and "SCRAM-SHA-1" in mechanisms
        assert "X-OAUTH2" not in mechanisms
    n1, n2 = (n.url for n in target.nodes)
    assert _register(n1, "u1").get("type") == "result"
    assert _conflict(_register(n2, "u1"))  # the account registered on n1 is n2's too
    for i in range(5):  # no per-IP registration throttle
        assert _register(n2, f"v{i}").get("type") == "result"
    listed = cluster.ctl("n2", "list_cluster")
    assert "n1@127.0.0.1" in listed and "n2@127.0.0.1" in listed


@pytest.mark.integration
def test_two_devices_chat_over_tcp_with_starttls_one_on_each_node(
        cluster: EjabberdCluster) -> None:
    target = load_target(cluster.directory / "target-xmpp-tcp.toml")
    assert target.protocol == "xmpp-tcp" and target.ca == cluster.directory / "ca.pem"
    assert [n.proxy for n in target.nodes] == ["n1-c2s", "n2-c2s"]
    chat_over_tls(target, [n.url for n in target.nodes])


@pytest.mark.integration
def test_groups_are_rooms_shared_by_both_nodes(cluster: EjabberdCluster) -> None:
    target = load_target(cluster.directory / "target.toml")
    groups_chat(target, [n.url for n in target.nodes])


@pytest.mark.integration
def test_killed_node_restarts_and_rejoins_the_cluster(cluster: EjabberdCluster) -> None:
    n1, n2 = (cluster.node_url(n) for n in ("n1", "n2"))
    assert _register(n1, "k1").get("type") == "result"  # its own: the tests may be split
    cluster.kill_node("n1")
    assert not cluster.status()["n1"]["alive"] and cluster.status()["n2"]["alive"]
    assert _register(n2, "u2").get("type") == "result"  # n2 goes on alone
    load_cluster(cluster.directory).restart_node("n1")  # as `imload cluster restart` would
    cluster._refresh()
    assert cluster.status()["n1"]["alive"]
    assert _conflict(_register(n1, "u2"))  # registered while n1 was down: n1 has it now
    assert _conflict(_register(n1, "k1"))  # and what it had before the crash
    assert "n1@127.0.0.1" in cluster.ctl("n2", "list_cluster")


@pytest.mark.integration
def test_stop_leaves_no_process(cluster: EjabberdCluster) -> None:
    recorded = recorded_pids(cluster.directory)
    assert len(recorded) == 4  # toxiproxy, epmd, n1, n2
    family = _family(recorded)
    assert len(family) > len(recorded)  # beam.smp has children (erl_child_setup ...)
    load_cluster(cluster.directory).stop()  # as `imload cluster down` would
    assert [pid for pid in family if not gone(pid)] == []
    assert recorded_pids(cluster.directory) == []


@pytest.mark.integration
def test_node_that_exits_while_starting_leaves_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _installed()
    monkeypatch.setattr(ejabberd_module.cfg, "ejabberd_config",
                        lambda settings: "modules:\n  mod_no_such_module: {}\n")
    error = start_fails(EjabberdCluster(tmp_path, ready_timeout_s=20),
                        r"n\d (exited while starting|not ready)")
    assert "end of" in error
