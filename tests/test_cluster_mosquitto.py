"""The mosquitto backend: its config writer, the registry, CLI and scenario options, the
target file, and a real Mosquitto behind Toxiproxy (integration: device accounts made
through the dynamic security plugin, a persistent session's queued message across a
SIGKILL with and without autosave, kill/restart, stop; and ``python -m imload cluster``)."""

from __future__ import annotations

import json
import time
import tomllib
from functools import partial
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from cluster_helpers import (
    chat_over_tls,
    cluster_cli,
    gone,
    recorded_pids,
    start_fails,
    stops_clean,
)
from mqtt_helpers import MqttClient, dynsec
from rich.console import Console

import imload.run_setup as run_setup
from imload.cli import build_parser, main
from imload.cluster.backends import (
    BACKENDS,
    MosquittoCluster,
    load_cluster,
    new_cluster,
    recorded_backend,
)
from imload.cluster.backends import mosquitto as mosquitto_module
from imload.cluster.backends.mosquitto import find_mosquitto, init_dynsec, mqtt_connack
from imload.cluster.backends.mosquitto_config import (
    ADMIN_USER,
    MosquittoSettings,
    mosquitto_config,
    open_default_acl,
)
from imload.cluster.processes import REPO, ClusterError, Part, free_ports
from imload.cluster.target import load_target, write_target
from imload.faults.toxiproxy import ToxiproxyAPI
from imload.scenario import ScenarioError, parse_scenario

PLUGIN = Path("/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so")


def _settings(**kw: Any) -> MosquittoSettings:
    return MosquittoSettings(directory=Path("/d/mosquitto"), port=18830, dynsec_plugin=PLUGIN,
                             **kw)


def _code(text: str) -> list[str]:
    """The config's settings: its lines without comments and blank lines."""
    return [line for line in text.splitlines() if line.strip() and not line.startswith("#")]


# -- the config writer (no I/O) ------------------------------------------------------------

def test_config_listens_on_loopback_only_and_persists_sessions() -> None:
    code = _code(mosquitto_config(_settings()))
    assert [line for line in code if line.startswith(("listener", "port", "bind"))] == [
        "listener 18830 127.0.0.1"]
    assert not any("websockets" in line or line.startswith("protocol") for line in code)
    for line in ("persistence true", "persistence_location /d/mosquitto/data/",
                 "autosave_interval 1", "autosave_on_changes false",
                 "pid_file /d/mosquitto/mosquitto.pid", "log_dest stderr",
                 "max_queued_messages 100000"):
        assert line in code, line
    # sessions never expire; Mosquitto's own in-flight window
    assert not any(line.startswith(("persistent_client_expiration", "max_inflight_messages",
                                    "user")) for line in code)
    with_tls = _code(mosquitto_config(_settings(tls=(18832, Path("/t/s.pem"),
                                                     Path("/t/s.key")))))
    at = with_tls.index("listener 18832 127.0.0.1")  # loopback too; the certificate follows
    assert with_tls[at + 1:at + 3] == ["certfile /t/s.pem", "keyfile /t/s.key"]
    assert with_tls[:at] == code  # after everything else: certfile belongs to it alone


def test_config_has_no_anonymous_access_and_loads_dynamic_security() -> None:
    code = _code(mosquitto_config(_settings()))
    assert "allow_anonymous false" in code and "allow_anonymous true" not in code
    assert f"plugin {PLUGIN}" in code
    assert "plugin_opt_config_file /d/mosquitto/dynsec.json" in code
    assert not any(line.startswith(("password_file", "acl_file")) for line in code)


def test_config_autosave_interval_on_off_and_on_changes() -> None:
    default = _code(mosquitto_config(_settings(autosave_interval_s=None)))
    assert not any(line.startswith("autosave_interval") for line in default)
    assert "autosave_interval 0" in _code(mosquitto_config(_settings(autosave_interval_s=0)))
    on_changes = _code(mosquitto_config(_settings(autosave_interval_s=50,
                                                  autosave_on_changes=True)))
    assert "autosave_interval 50" in on_changes and "autosave_on_changes true" in on_changes


def test_config_stays_root_only_when_started_as_root() -> None:
    assert "user root" in _code(mosquitto_config(_settings(run_as_root=True)))
    assert "user root" not in _code(mosquitto_config(_settings()))


def test_config_refuses_what_mosquitto_could_not_read() -> None:
    with pytest.raises(ValueError, match="autosave_interval_s"):
        mosquitto_config(_settings(autosave_interval_s=-1))
    with pytest.raises(ValueError, match="white space"):
        mosquitto_config(MosquittoSettings(directory=Path("/my dir"), port=1,
                                           dynsec_plugin=PLUGIN))


def test_open_default_acl_allows_every_client_and_keeps_the_admin() -> None:
    doc = {"clients": [{"username": ADMIN_USER, "roles": [{"rolename": "admin"}]}],
           "roles": [{"rolename": "admin", "acls": []}],
           "defaultACLAccess": {"publishClientSend": False, "publishClientReceive": True,
                                "subscribe": False, "unsubscribe": True}}
    opened = open_default_acl(doc)
    assert opened["defaultACLAccess"] == {"publishClientSend": True,
                                          "publishClientReceive": True, "subscribe": True,
                                          "unsubscribe": True}
    assert opened["clients"] == doc["clients"] and opened["roles"] == doc["roles"]
    assert doc["defaultACLAccess"]["subscribe"] is False  # the input is left alone


# -- the registry, the CLI, scenarios ------------------------------------------------------

def test_registry_and_new_cluster_know_the_mosquitto_backend(tmp_path: Path) -> None:
    assert BACKENDS["mosquitto"] is MosquittoCluster
    cluster = new_cluster("mosquitto", tmp_path, qos=0, autosave_interval_s=None)
    assert isinstance(cluster, MosquittoCluster)
    assert cluster.qos == 0 and cluster.autosave_interval_s is None
    with pytest.raises(ClusterError, match="mosquitto backend does not take smacks, tls"):
        new_cluster("mosquitto", tmp_path, smacks=False, tls=True)
    with pytest.raises(ClusterError, match="prosody backend does not take qos"):
        new_cluster("prosody", tmp_path, qos=1)
    for bad, words in (({"nodes": 2}, "exactly one node"), ({"qos": 2}, "qos is 0 or 1"),
                       ({"protocol": "xmpp"}, "speaks mqtt"),
                       ({"autosave_interval_s": -5}, "autosave_interval_s")):
        with pytest.raises(ClusterError, match=words):
            new_cluster("mosquitto", tmp_path, **bad)


def test_cli_passes_qos_and_autosave_interval(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[dict[str, Any]] = []
    monkeypatch.setattr("imload.cluster.backends.new_cluster", lambda backend, folder, **kw: (
        made.append(kw), SimpleNamespace(start=lambda: None))[1])
    for extra, want in ((["--autosave-interval", "default", "--qos", "0"],
                         {"qos": 0, "autosave_interval_s": None}),
                        (["--autosave-interval", "0"], {"autosave_interval_s": 0}), ([], {})):
        assert main(["cluster", "up", "--backend", "mosquitto", "--dir", str(tmp_path),
                     *extra]) == 0
        assert made.pop() == want
    for bad in (["--qos", "2"], ["--autosave-interval", "-1"]):
        with pytest.raises(SystemExit):
            build_parser().parse_args(["cluster", "up", "--dir", "d", *bad])


def test_scenario_cluster_table_takes_qos_and_autosave_for_mosquitto(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "s.toml"
    s = parse_scenario({"cluster": {"backend": "mosquitto", "qos": 0,
                                    "autosave_interval_s": 0}}, path)
    assert s.cluster.qos == 0 and s.cluster.autosave_interval_s == 0
    for table, words in (({"backend": "prosody", "qos": 1}, "the mosquitto backend's"),
                         ({"autosave_interval_s": 1}, "reference backend does not take"),
                         ({"backend": "mosquitto", "qos": 2}, "qos must be 0 or 1")):
        with pytest.raises(ScenarioError, match=words):
            parse_scenario({"cluster": table}, path)
    started: list[tuple[str, dict[str, Any]]] = []
    monkeypatch.setattr(run_setup, "start_backend",
                        lambda backend, out, console, **options: started.append(
                            (backend, options)))
    run_setup.prepare_target(s, tmp_path, None, Console(quiet=True))
    assert started == [("mosquitto", {"qos": 0, "autosave_interval_s": 0})]


# -- cluster.json and the target file ------------------------------------------------------

def _fake_cluster(directory: Path) -> MosquittoCluster:
    cluster = MosquittoCluster(directory, qos=0, autosave_interval_s=None)
    cluster.parts = {
        "toxiproxy": Part("toxiproxy", "toxiproxy", 18474, ["toxiproxy-server"], "t.log"),
        "n1": Part("n1", "node", 18830, ["mosquitto"], "n1.log", proxy_port=18831),
    }
    return cluster


def test_load_cluster_picks_the_mosquitto_class(tmp_path: Path) -> None:
    cluster = _fake_cluster(tmp_path)
    cluster._save()
    assert recorded_backend(tmp_path) == "mosquitto"
    loaded = load_cluster(tmp_path)
    assert isinstance(loaded, MosquittoCluster) and loaded.parts == cluster.parts
    assert (loaded.secret, loaded.admin_password) == (cluster.secret, cluster.admin_password)
    assert loaded.qos == 0 and loaded.autosave_interval_s is None


def test_target_file_round_trip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cluster = _fake_cluster(tmp_path)
    write_target(cluster.target(), tmp_path / "target.toml")
    raw = tomllib.loads((tmp_path / "target.toml").read_text())
    assert raw["name"] == "mosquitto" and raw["protocol"] == "mqtt"
    assert raw["secret"] == cluster.secret and len(cluster.secret) == 64
    assert raw["mqtt"] == {"version": 5, "qos": 0, "session_expiry_s": 86400,
                           "register": True, "admin_user": "imload-admin",
                           "admin_password": cluster.admin_password, "topic_prefix": "im",
                           "keepalive_s": 30}
    assert raw["numbering"] == {"seq": "opaque", "useq": "contiguous"}
    target = load_target(tmp_path / "target.toml")
    assert target.protocol == "mqtt" and target.protocol_options == raw["mqtt"]
    assert target.toxiproxy_api == "http://127.0.0.1:18474" and target.store is None
    (n1,) = target.nodes
    assert (n1.name, n1.proxy, n1.url) == ("n1", "n1", "tcp://127.0.0.1:18831")
    assert n1.extra["direct_url"] == "tcp://127.0.0.1:18830"
    assert n1.kill == f"kill -s KILL $(cat {tmp_path.resolve()}/pids/n1.pid)"
    assert n1.restart is not None and n1.restart.endswith(
        f"-m imload cluster restart --dir {tmp_path.resolve()} --node n1")
    assert n1.pause is not None and n1.pause.startswith("kill -s STOP")
    assert n1.resume is not None and n1.resume.startswith("kill -s CONT")
    cluster.tls_port, cluster.tls_proxy_port = 18832, 18833
    write_target(cluster.target(tls=True), tmp_path / "target-mqtts.toml")
    tls = load_target(tmp_path / "target-mqtts.toml")
    (n1,) = tls.nodes
    assert (n1.proxy, n1.url) == ("n1-tls", "tls://127.0.0.1:18833")
    assert n1.extra["direct_url"] == "tls://127.0.0.1:18832"
    assert tls.ca == tmp_path.resolve() / "ca.pem" and tls.protocol_options == raw["mqtt"]


# -- finding and preparing Mosquitto -------------------------------------------------------

def test_missing_mosquitto_without_root_says_how_to_install(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mosquitto_module, "_locate", lambda: None)
    with pytest.raises(ClusterError, match="install-package.sh mosquitto"):
        find_mosquitto(install=False)


def test_init_dynsec_notices_when_mosquitto_ctrl_wrote_nothing(tmp_path: Path) -> None:
    with pytest.raises(ClusterError, match="did not write"):  # it exits 0 regardless
        init_dynsec("true", tmp_path / "dynsec.json", ADMIN_USER, "pw")


def test_probe_without_a_broker_is_none() -> None:
    (port,) = free_ports("127.0.0.1", 1)
    assert mqtt_connack("127.0.0.1", port, ADMIN_USER, "pw", timeout=0.5) is None


# -- a real Mosquitto -----------------------------------------------------------------------

def _broker(cluster: MosquittoCluster) -> tuple[str, int]:
    """Where clients dial: the node's Toxiproxy proxy."""
    return cluster.host, int(cluster.node_url("n1").rsplit(":", 1)[1])


def _make_devices(cluster: MosquittoCluster, *users: str) -> None:
    """Create device accounts the way the MQTT adapter does at a first login."""
    answers = dynsec(*_broker(cluster), ADMIN_USER, cluster.admin_password,
                     [{"command": "createClient", "username": u, "password": f"pw-{u}"}
                      for u in users])
    assert answers == [{"command": "createClient"}] * len(users), answers


def _device(cluster: MosquittoCluster, user: str, clean: bool = True) -> MqttClient:
    client = MqttClient(*_broker(cluster))
    assert client.connect(user, user, f"pw-{user}", clean=clean, session_expiry_s=86400) == 0
    return client


def _saved_after(db: Path, since: float, timeout_s: float) -> float | None:
    """Seconds until Mosquitto's database file on disk was written after ``since`` (a
    wall-clock time), or None within ``timeout_s``. It is written to a new file and renamed,
    so a newer file on disk is a complete save that began after ``since``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if db.exists() and db.stat().st_mtime > since:
            return time.time() - since
        time.sleep(0.02)
    return None


def _message_away_across_sigkill(cluster: MosquittoCluster,
                                 wait_for_save: bool) -> tuple[bool, bytes | None, float | None]:
    """u1 (persistent session, subscribed at QoS 1) leaves; u2 sends it a message (PUBACK
    0); after the next save (or 2 s), the broker is SIGKILLed and restarted, and u1 comes
    back. Returns (session present, the message u1 then got, seconds until the save)."""
    _make_devices(cluster, "u1", "u2")
    u1 = _device(cluster, "u1", clean=False)
    assert u1.subscribe("im/u/u1", qos=1) == 1
    u2 = _device(cluster, "u2")
    assert u2.publish("im/u/u1", b"while online") == 0
    got = u1.receive(5)
    assert got is not None and got.payload == b"while online" and got.qos == 1
    u1.disconnect()
    time.sleep(0.05)  # the broker has seen u1 go
    assert u2.publish("im/u/u1", b"while away") == 0
    acked = time.time()
    u2.disconnect()
    db = cluster.mosquitto_dir / "data" / "mosquitto.db"
    saved = _saved_after(db, acked, 3.0) if wait_for_save else None
    if not wait_for_save:
        time.sleep(2.0)
    cluster.kill_node("n1")
    load_cluster(cluster.directory).restart_node("n1")  # as `imload cluster restart` would
    u1 = _device(cluster, "u1", clean=False)  # its account survived: it is in dynsec.json
    try:
        again = u1.receive(1.0)
        return u1.session_present, again.payload if again else None, saved
    finally:
        u1.disconnect()


@pytest.mark.integration
def test_accounts_sessions_and_a_queued_message_survive_sigkill_with_autosave(
        tmp_path: Path, mosquitto_installed: None) -> None:
    cluster = MosquittoCluster(tmp_path, autosave_interval_s=1)
    cluster.start()
    with stops_clean(tmp_path, parts=2):
        assert ToxiproxyAPI(cluster.toxiproxy_api).proxy_names() == ["n1", "n1-tls"]
        config = tmp_path.resolve() / "mosquitto" / "mosquitto.conf"
        assert cluster.parts["n1"].cmd[1:] == ["-c", str(config)]
        with pytest.raises(ClusterError, match="already running"):
            MosquittoCluster(tmp_path).start()
        present, message, saved = _message_away_across_sigkill(cluster, wait_for_save=True)
        # autosave_interval 1 saves every 2 s in 2.0.11: the save came within 3 s
        assert saved is not None and saved < 3.0
        assert present and message == b"while away"
        # a device may use its topics but not administer accounts; strangers get nothing
        u2 = _device(cluster, "u2")
        assert u2.publish("$CONTROL/dynamic-security/v1", json.dumps({"commands": [
            {"command": "createClient", "username": "x", "password": "x"}]}).encode()) == 0x87
        u2.disconnect()
        for user, password in (("x", "x"), ("u1", "wrong")):
            stranger = MqttClient(*_broker(cluster))
            assert stranger.connect(user, user, password) != 0
            stranger.close()


@pytest.mark.integration
def test_two_devices_chat_over_tls_through_their_proxy(tmp_path: Path,
                                                       mosquitto_installed: None) -> None:
    cluster = MosquittoCluster(tmp_path)
    cluster.start()
    try:
        assert ToxiproxyAPI(cluster.toxiproxy_api).proxy_names() == ["n1", "n1-tls"]
        target = load_target(tmp_path / "target-mqtts.toml")
        chat_over_tls(target, [n.url for n in target.nodes] * 2)
    finally:
        load_cluster(tmp_path).stop()
    assert recorded_pids(tmp_path) == []


@pytest.mark.integration
def test_without_autosave_a_sigkill_loses_the_session_and_its_queue(
        tmp_path: Path, mosquitto_installed: None) -> None:
    cluster = MosquittoCluster(tmp_path, autosave_interval_s=None)  # Mosquitto's 1800 s
    cluster.start()
    try:
        present, message, _ = _message_away_across_sigkill(cluster, wait_for_save=False)
        assert not present and message is None
        assert not (cluster.mosquitto_dir / "data" / "mosquitto.db").exists()
    finally:
        cluster.stop()
    assert recorded_pids(tmp_path) == []


@pytest.mark.integration
def test_broker_that_exits_while_starting_leaves_nothing(
        tmp_path: Path, mosquitto_installed: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mosquitto_module, "mosquitto_config",
                        lambda settings: "no_such_option 1\n")
    error = start_fails(MosquittoCluster(tmp_path, ready_timeout_s=10),
                        "n1 exited while starting")
    assert "no_such_option" in error  # the end of n1.log


@pytest.mark.integration
def test_cli_up_status_kill_restart_down(tmp_path: Path, mosquitto_installed: None) -> None:
    imload = partial(cluster_cli, tmp_path)
    up = imload("up", "--backend", "mosquitto", "--qos", "0", "--autosave-interval", "0")
    try:
        assert up.returncode == 0, up.stderr
        raw = tomllib.loads((tmp_path / "target.toml").read_text())
        assert raw["mqtt"]["qos"] == 0
        assert "autosave_interval 0" in (tmp_path / "mosquitto" / "mosquitto.conf").read_text()
        status = imload("status")
        assert status.returncode == 0 and status.stdout.count(" up ") == 2, status.stdout
        first = recorded_pids(tmp_path)
        assert imload("kill", "--node", "n1").returncode == 0
        assert imload("status").stdout.count(" up ") == 1
        restart = imload("restart", "--node", "n1")
        assert restart.returncode == 0, restart.stderr
        assert imload("status").stdout.count(" up ") == 2
        assert set(recorded_pids(tmp_path)) != set(first)
    finally:
        down = imload("down")
    assert down.returncode == 0, down.stderr
    assert recorded_pids(tmp_path) == []
    assert all(gone(p) for p in first)


def test_setup_script_installs_mosquitto() -> None:
    text = (REPO / "scripts" / "setup.sh").read_text()
    assert "need_package mosquitto mosquitto" in text
