"""The prosody backend: its config writer, the backend registry, install-package.sh, and a
real Prosody behind Toxiproxy (integration: start, register over a websocket, kill,
restart, stop; and the same through ``python -m imload cluster``)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from functools import partial
from pathlib import Path

import pytest
import websocket
from cluster_helpers import (
    chat_over_tls,
    cluster_cli,
    gone,
    groups_chat,
    open_stream,
    recorded_pids,
    send_register,
    start_fails,
    stops_clean,
    xmpp_target_parses_back,
)

from imload.cluster.backends import (
    BACKENDS,
    LocalCluster,
    ProsodyCluster,
    load_cluster,
    new_cluster,
    recorded_backend,
)
from imload.cluster.backends import prosody as prosody_module
from imload.cluster.backends.prosody import find_prosody
from imload.cluster.backends.prosody_config import ProsodySettings, modules, prosody_config
from imload.cluster.processes import REPO, ClusterError, Part
from imload.cluster.target import load_target, write_target
from imload.faults.toxiproxy import ToxiproxyAPI

INSTALL = REPO / "scripts" / "install-package.sh"


def _settings(smacks: bool = True, root: bool = False) -> ProsodySettings:
    return ProsodySettings(directory=Path("/d/prosody"), c2s_port=15222, http_port=15280,
                           smacks=smacks, run_as_root=root)


# -- the config writer (no I/O) ------------------------------------------------------------

def test_config_listens_on_loopback_ports_without_s2s() -> None:
    text = prosody_config(_settings())
    assert "c2s_ports = { 15222 }" in text and "http_ports = { 15280 }" in text
    assert 'interfaces = { "127.0.0.1" }' in text and "https_ports = {}" in text
    assert 'modules_disabled = { "s2s" }' in text and '"s2s"' not in _enabled(text)
    assert 'pidfile = "/d/prosody/prosody.pid"' in text
    assert 'data_path = "/d/prosody/data"' in text
    assert "daemonize = false" in text and "run_as_root" not in text
    assert "allow_registration = true" in text
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))
    assert "min_seconds_between_registrations" not in code  # set, it turns the throttle on
    assert "registration_throttle_max" not in code
    assert 'registration_allowlist = { "127.0.0.1"; "::1" }' in code
    assert "c2s_require_encryption = false" in text and "consider_websocket_secure = true" in text
    assert 'authentication = "internal_hashed"' in text
    assert 'archive_expires_after = "never"' in text and "default_archive_policy = true" in text
    assert 'VirtualHost "localhost"' in text
    assert 'Component "conference.localhost" "muc"' in text and '"muc_mam"' in text


def _enabled(text: str) -> str:
    return next(line for line in text.splitlines() if line.startswith("modules_enabled"))


def test_config_smacks_on_and_off() -> None:
    on, off = prosody_config(_settings(smacks=True)), prosody_config(_settings(smacks=False))
    assert '"smacks"' in _enabled(on) and '"smacks"' not in _enabled(off)
    for name in ("roster", "saslauth", "disco", "ping", "register", "carbons", "mam",
                 "websocket"):
        assert f'"{name}"' in _enabled(off)
    assert modules(_settings(smacks=False)) + ["smacks"] == modules(_settings(smacks=True))


def test_config_runs_as_root_only_when_asked() -> None:
    assert "run_as_root = true" in prosody_config(_settings(root=True))
    assert "run_as_root" not in prosody_config(_settings(root=False))


# -- the registry and the target file ------------------------------------------------------

def test_registry_names_both_backends() -> None:
    assert BACKENDS["reference"] is LocalCluster and BACKENDS["prosody"] is ProsodyCluster
    with pytest.raises(ClusterError, match="unknown cluster backend 'openfire'"):
        new_cluster("openfire", Path("/nonexistent"))


def test_new_cluster_refuses_options_a_backend_does_not_take(tmp_path: Path) -> None:
    with pytest.raises(ClusterError, match="prosody backend does not take bug, tls"):
        new_cluster("prosody", tmp_path, tls=True, bug="lose")
    with pytest.raises(ClusterError, match="exactly one node"):
        new_cluster("prosody", tmp_path, nodes=2)
    with pytest.raises(ClusterError, match="reference backend does not take smacks"):
        new_cluster("reference", tmp_path, smacks=False)
    assert isinstance(new_cluster("prosody", tmp_path, smacks=False), ProsodyCluster)


def test_load_cluster_picks_the_class_recorded_in_cluster_json(tmp_path: Path) -> None:
    assert recorded_backend(tmp_path) is None
    with pytest.raises(ClusterError, match="no cluster in"):
        load_cluster(tmp_path)
    cluster = _fake_cluster(tmp_path)
    cluster._save()
    assert recorded_backend(tmp_path) == "prosody"
    loaded = load_cluster(tmp_path)
    assert isinstance(loaded, ProsodyCluster)
    assert loaded.secret == cluster.secret and loaded.parts == cluster.parts
    assert not loaded.smacks and loaded.c2s_port == 15222
    state = json.loads((tmp_path / "cluster.json").read_text())
    del state["backend"]  # a reference cluster's file names no backend
    (tmp_path / "cluster.json").write_text(json.dumps(state))
    assert recorded_backend(tmp_path) == "reference"


def _fake_cluster(directory: Path) -> ProsodyCluster:
    cluster = ProsodyCluster(directory, smacks=False)
    cluster.c2s_port = 15222
    cluster.parts = {
        "toxiproxy": Part("toxiproxy", "toxiproxy", 18474, ["toxiproxy-server"], "t.log"),
        "n1": Part("n1", "node", 15280, ["prosody"], "n1.log", proxy_port=15281),
    }
    return cluster


def test_target_file_parses_back(tmp_path: Path) -> None:
    (node,) = xmpp_target_parses_back(_fake_cluster(tmp_path), tmp_path).nodes
    assert node.name == "n1" and node.proxy == "n1"
    assert node.url == "ws://127.0.0.1:15281/xmpp-websocket"
    assert node.extra["direct_url"] == "ws://127.0.0.1:15280/xmpp-websocket"


# -- scripts/install-package.sh ------------------------------------------------------------

def _install(tmp_path: Path, apt_exit: int, *packages: str,
             policy_exists: bool = False) -> tuple[subprocess.CompletedProcess[str], Path]:
    """Run install-package.sh with a fake apt-get that records whether policy-rc.d exists."""
    bindir = tmp_path / "bin"
    bindir.mkdir(exist_ok=True)
    policy = tmp_path / "policy-rc.d"
    if policy_exists:
        policy.write_text("#!/bin/sh\nexit 101\n")
    (bindir / "apt-get").write_text(
        "#!/bin/sh\n"
        f'[ -x "{policy}" ] && "{policy}"; echo "$? $*" >> "{tmp_path}/apt.log"\n'
        f"exit {apt_exit}\n")
    (bindir / "apt-get").chmod(0o755)
    env = {**os.environ, "PATH": f"{bindir}:{os.environ['PATH']}", "POLICY_RC_D": str(policy)}
    done = subprocess.run(["bash", str(INSTALL), *packages], env=env, capture_output=True,
                          text=True, check=False)
    return done, policy


def test_install_package_needs_a_package() -> None:
    done = subprocess.run(["bash", str(INSTALL)], capture_output=True, text=True, check=False)
    assert done.returncode == 2 and "usage" in done.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="the fake apt-get runs only as root")
def test_install_package_forbids_services_and_cleans_up(tmp_path: Path) -> None:
    done, policy = _install(tmp_path, 0, "prosody")
    assert done.returncode == 0, done.stderr
    calls = (tmp_path / "apt.log").read_text().splitlines()
    # while apt-get ran, policy-rc.d existed and said 101 ("action forbidden")
    assert calls == ["101 install -y -qq --no-install-recommends prosody"]
    assert not policy.exists()  # we created it, so we removed it


@pytest.mark.skipif(os.geteuid() != 0, reason="the fake apt-get runs only as root")
def test_install_package_removes_its_policy_file_on_failure_too(tmp_path: Path) -> None:
    done, policy = _install(tmp_path, 100, "prosody")
    assert done.returncode == 1 and "apt-get update failed" in done.stderr
    assert not policy.exists()
    done, policy = _install(tmp_path, 100, "prosody", policy_exists=True)
    assert policy.exists()  # not ours: left alone


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None,
                    reason="needs root and setpriv to run as another user")
def test_install_package_as_non_root_says_what_to_run() -> None:
    done = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                           "bash", str(INSTALL), "prosody"],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 2
    assert "needs root" in done.stderr and "install-package.sh prosody" in done.stderr


def test_missing_prosody_without_root_says_how_to_install(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(prosody_module.shutil, "which", lambda name: None)
    with pytest.raises(ClusterError, match="install-package.sh prosody"):
        find_prosody(install=False)


# -- a real Prosody -------------------------------------------------------------------------

@pytest.fixture
def prosody_installed() -> None:
    """Skip when prosody is absent and we are not root; as root, install it."""
    if shutil.which("prosody") is None and os.geteuid() != 0:
        pytest.skip("prosody is not installed and we are not root "
                    "(sudo scripts/install-package.sh prosody)")
    find_prosody()


@pytest.mark.integration
def test_prosody_registers_over_the_proxy_survives_kill_and_stops_clean(
        tmp_path: Path, prosody_installed: None) -> None:
    cluster = ProsodyCluster(tmp_path)
    target = cluster.start()
    with stops_clean(tmp_path, parts=2):
        assert load_target(tmp_path / "target.toml").nodes[0].url == target.nodes[0].url
        assert ToxiproxyAPI(cluster.toxiproxy_api).proxy_names() == ["n1", "n1-c2s"]
        config = tmp_path.resolve() / "prosody" / "prosody.cfg.lua"
        assert config.is_file()
        assert cluster.parts["n1"].cmd[1:] == ["--config", str(config), "-F"]
        with pytest.raises(ClusterError, match="already running"):
            ProsodyCluster(tmp_path).start()

        ws, features = open_stream(target.nodes[0].url)
        mechanisms = [m.text for m in features.iter(
            "{urn:ietf:params:xml:ns:xmpp-sasl}mechanism")]
        assert "PLAIN" in mechanisms and "SCRAM-SHA-1" in mechanisms
        assert features.find("{http://jabber.org/features/iq-register}register") is not None
        for i in range(5):  # no per-IP registration throttle
            assert send_register(ws, f"u{i}", "pw").get("type") == "result"

        cluster.kill_node("n1")
        # the proxy closes the client's connection once Prosody is gone (a timeout of the
        # socket is neither exception, so it would fail the test)
        with pytest.raises((websocket.WebSocketConnectionClosedException, ConnectionError)):
            while True:
                if not ws.recv():  # a close frame
                    raise websocket.WebSocketConnectionClosedException("closed")
        assert not cluster.status()["n1"]["alive"]

        load_cluster(tmp_path).restart_node("n1")  # as `imload cluster restart` would
        ws, _ = open_stream(target.nodes[0].url)
        again = send_register(ws, "u0", "pw")  # the account survived the crash
        assert again.get("type") == "error" and again.find(".//{*}conflict") is not None
        ws.close()


@pytest.mark.integration
def test_prosody_that_exits_while_starting_leaves_nothing(
        tmp_path: Path, prosody_installed: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(prosody_module, "prosody_config",
                        lambda settings: "this is not lua {{{\n")
    error = start_fails(ProsodyCluster(tmp_path, ready_timeout_s=10),
                        "n1 exited while starting")
    assert "end of" in error


@pytest.mark.integration
def test_cli_up_status_down_with_the_prosody_backend(
        tmp_path: Path, prosody_installed: None) -> None:
    imload = partial(cluster_cli, tmp_path)
    up = imload("up", "--backend", "prosody", "--no-smacks")
    try:
        assert up.returncode == 0, up.stderr
        assert load_target(tmp_path / "target.toml").extra["xmpp"]["smacks"] is False
        status = imload("status")
        assert status.returncode == 0 and "n1" in status.stdout
        assert status.stdout.count(" up ") == 2, status.stdout
        twice = imload("up", "--backend", "prosody")
        assert twice.returncode == 2 and "already running" in twice.stderr
    finally:
        down = imload("down")
    assert down.returncode == 0, down.stderr
    assert recorded_pids(tmp_path) == []


def test_the_tcp_target_dials_c2s_through_its_proxy_and_trusts_the_cluster_ca(
        tmp_path: Path) -> None:
    cluster = _fake_cluster(tmp_path)
    cluster.c2s_proxy_port = 15223
    write_target(cluster.target("xmpp-tcp"), tmp_path / "target.toml")
    target = load_target(tmp_path / "target.toml")
    assert target.protocol == "xmpp-tcp" and target.protocol_options["domain"] == "localhost"
    (node,) = target.nodes
    assert node.url == "tcp://127.0.0.1:15223" and node.proxy == "n1-c2s"
    assert target.ca == (tmp_path / "ca.pem").resolve() or target.ca == tmp_path / "ca.pem"
    with pytest.raises(ClusterError, match="speaks xmpp, xmpp-tcp"):
        ProsodyCluster(tmp_path, protocol="smtp")


def test_config_offers_starttls_with_the_clusters_certificate(tmp_path: Path) -> None:
    settings = ProsodySettings(directory=tmp_path, c2s_port=1, http_port=2,
                               tls=(tmp_path / "server.pem", tmp_path / "server.key"))
    text = prosody_config(settings)
    assert '"tls"' in text and f'certificate = "{tmp_path}/server.pem"' in text
    assert '"tls"' not in prosody_config(ProsodySettings(directory=tmp_path, c2s_port=1,
                                                         http_port=2))


@pytest.mark.integration
def test_two_devices_chat_over_tcp_with_starttls(tmp_path: Path,
                                                 prosody_installed: None) -> None:
    cluster = ProsodyCluster(tmp_path / "c", protocol="xmpp-tcp")
    target = cluster.start()
    try:
        chat_over_tls(target, [target.nodes[0].url] * 2)
    finally:
        cluster.stop()
    assert all(gone(pid) for pid in recorded_pids(tmp_path / "c"))


@pytest.mark.integration
def test_groups_are_rooms_with_their_archive(tmp_path: Path, prosody_installed: None) -> None:
    cluster = ProsodyCluster(tmp_path / "c")
    target = cluster.start()
    try:
        groups_chat(target, [target.nodes[0].url])
    finally:
        cluster.stop()
    assert all(gone(pid) for pid in recorded_pids(tmp_path / "c"))
