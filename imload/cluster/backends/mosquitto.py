"""A private Mosquitto MQTT broker behind Toxiproxy: ``imload cluster up --backend mosquitto``.

``MosquittoCluster(dir).start()`` makes ``DIR/mosquitto/dynsec.json`` with
``mosquitto_ctrl dynsec init`` (admin ``imload-admin``, a random hex password) and opens
its default ACL (:func:`~imload.cluster.backends.mosquitto_config.open_default_acl`),
writes ``DIR/mosquitto/mosquitto.conf``
(:mod:`imload.cluster.backends.mosquitto_config`), starts ``toxiproxy-server`` and one
broker (node ``n1``, ``mosquitto -c FILE``: in the foreground, never ``-d``, as a child of
the :class:`~imload.cluster.processes.Supervisor`, its log in ``DIR/logs/n1.log``), waits
until an MQTT CONNECT as the admin gets CONNACK 0, creates the Toxiproxy proxies ``n1`` in
front of the listener and ``n1-tls`` in front of a second one, MQTT over TLS (a throwaway
CA, ``DIR/ca.pem``, signs a certificate for 127.0.0.1 and localhost), and writes

- ``DIR/target.toml``: ``protocol = "mqtt"``, an ``[mqtt]`` table with the adapter's
  options (version, qos, session expiry, the admin account that creates device accounts,
  topic prefix, keepalive), the node's URL ``tcp://127.0.0.1:<proxy port>`` and its
  kill/restart/pause/resume commands; ``secret`` is a random hex string clients derive
  account passwords from;
- ``DIR/target-mqtts.toml``: the same over TLS, ``tls://127.0.0.1:<n1-tls port>``,
  ``ca = "ca.pem"``;
- ``DIR/cluster.json`` with ``"backend": "mosquitto"``, so ``imload cluster down/status/
  kill/restart --dir DIR`` find this class (:func:`imload.cluster.backends.load_cluster`).

Accounts are made at a device's first login: the adapter connects as the admin and sends
the plugin a ``createClient`` command (docs/backends/mosquitto.md). Sessions and queued
messages live in ``DIR/mosquitto/data``, accounts in ``dynsec.json``: both emptied when a
cluster starts, kept across ``restart_node`` and ``stop``. When ``mosquitto`` is missing
and we are root, ``scripts/install-package.sh mosquitto`` installs it without starting the
system service; otherwise the error says what to run.
"""

from __future__ import annotations

import glob
import json
import os
import secrets
import shutil
import socket
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from imload.cluster.backends.mosquitto_config import (
    ADMIN_USER,
    MAX_QUEUED_MESSAGES,
    MosquittoSettings,
    mosquitto_config,
    open_default_acl,
)
from imload.cluster.processes import ClusterError, Part, find_binary, find_or_install, free_ports
from imload.cluster.supervised import SupervisedCluster, refuse_if_running
from imload.cluster.target import NodeSpec, Target, write_target
from reference_server.tls import make_certificates

BACKEND = "mosquitto"
PROTOCOL = "mqtt"
NODE = "n1"
PLUGIN = "mosquitto_dynamic_security.so"
PLUGIN_GLOBS = (f"/usr/lib/*/{PLUGIN}", f"/usr/lib/{PLUGIN}", f"/usr/local/lib/{PLUGIN}",
                f"/usr/local/lib/*/{PLUGIN}")
SESSION_EXPIRY_S = 86400  # a device's session outlives a day away
KEEPALIVE_S = 30
TOPIC_PREFIX = "im"
TLS_PROXY = "-tls"               # the proxy in front of the TLS listener: "n1-tls"
TLS_TARGET = "target-mqtts.toml"  # the target through it, trusting DIR/ca.pem


@dataclass(frozen=True)
class Installation:
    """Where the installed Mosquitto's pieces are."""

    broker: str  # mosquitto (in /usr/sbin: not on a non-root user's PATH)
    ctrl: str  # mosquitto_ctrl
    plugin: Path  # the dynamic security plugin


def _locate() -> Installation | None:
    sbin = "/usr/sbin/mosquitto"
    broker = shutil.which("mosquitto") or (sbin if os.access(sbin, os.X_OK) else None)
    ctrl = shutil.which("mosquitto_ctrl")
    plugins = sorted(p for pattern in PLUGIN_GLOBS for p in glob.glob(pattern))
    if broker and ctrl and plugins:
        return Installation(broker, ctrl, Path(plugins[0]))
    return None


def find_mosquitto(install: bool = True) -> Installation:
    """The installed Mosquitto; installs the Debian package first when it is missing and
    we are root (``install``), else ClusterError saying how to install it."""
    return find_or_install("mosquitto", lambda: _locate(),  # (tests replace _locate)
                           f"mosquitto, mosquitto_ctrl or {PLUGIN} not found", install)


def init_dynsec(ctrl: str, path: Path, admin: str, password: str) -> None:
    """A new ``dynsec.json`` at ``path`` with ``admin`` (``mosquitto_ctrl dynsec init``)
    and the default ACL open to every client. mosquitto_ctrl exits 0 even when it wrote
    nothing, so the file is checked."""
    path.unlink(missing_ok=True)  # init refuses to overwrite
    try:
        done = subprocess.run([ctrl, "dynsec", "init", str(path), admin, password],
                              capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise ClusterError(f"could not run {ctrl} dynsec init: {e}") from None
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ClusterError(f"mosquitto_ctrl dynsec init did not write {path} ({e}): "
                           f"{done.stdout}{done.stderr}".strip()) from None
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(open_default_acl(doc), indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def mqtt_connack(host: str, port: int, username: str, password: str,
                 timeout: float = 1.0) -> int | None:
    """The return code of the CONNACK to an MQTT 3.1.1 CONNECT (clean session) with this
    user and password (0: accepted), or None when none came; disconnects at once."""
    from imload.adapters.mqtt import codec
    from imload.adapters.mqtt.packets import ConnAck

    reader = codec.Reader(4)
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.sendall(codec.build_connect("imload-probe", level=4, keepalive=10,
                                          username=username, password=password))
            got: list[object] = []
            while not got:
                chunk = s.recv(64)
                if not chunk:
                    return None
                got = reader.feed(chunk)
            if not isinstance(got[0], ConnAck):
                return None
            if got[0].code == 0:
                s.sendall(codec.build_disconnect(level=4))
            return got[0].code
    except (OSError, ValueError):  # no broker, or not an MQTT answer (ProtocolViolation)
        return None


class MosquittoCluster(SupervisedCluster):
    """One private Mosquitto broker (node ``n1``) and Toxiproxy in ``directory``."""

    backend = BACKEND
    label = "mosquitto "
    part_hint = " (no separate store)"

    def __init__(self, directory: Path, secret: str | None = None, *, nodes: int = 1,
                 qos: int = 1, autosave_interval_s: int | None = 1,
                 autosave_on_changes: bool = False,
                 max_queued_messages: int = MAX_QUEUED_MESSAGES, host: str = "127.0.0.1",
                 ready_timeout_s: float = 20.0, stop_grace_s: float = 5.0,
                 protocol: str = PROTOCOL, admin_password: str | None = None) -> None:
        if nodes != 1:
            raise ClusterError(f"the mosquitto backend runs exactly one node, got nodes={nodes}")
        if protocol != PROTOCOL:
            raise ClusterError(f"the mosquitto backend speaks {PROTOCOL}; "
                               f"got protocol={protocol!r}")
        if qos not in (0, 1) or isinstance(qos, bool):
            raise ClusterError(f"the mosquitto backend's qos is 0 or 1, got {qos!r}")
        super().__init__(directory, secret, host, ready_timeout_s, stop_grace_s)
        self.protocol = protocol
        self.qos = qos
        self.autosave_interval_s = autosave_interval_s
        self.autosave_on_changes = autosave_on_changes
        self.max_queued_messages = max_queued_messages
        self.admin_password = admin_password or secrets.token_hex(16)
        self.tls_port: int | None = None        # the TLS listener (target-mqtts.toml) ...
        self.tls_proxy_port: int | None = None  # ... and its Toxiproxy proxy, n1-tls
        try:  # refuse bad values now, not at start
            mosquitto_config(self.settings(1, Path("/plugin.so")))
        except ValueError as e:
            raise ClusterError(f"the mosquitto backend: {e}") from None

    # -- paths and names -------------------------------------------------------------------

    @property
    def mosquitto_dir(self) -> Path:
        return self.directory / "mosquitto"

    def settings(self, port: int, plugin: Path) -> MosquittoSettings:
        """The config of node ``n1`` on this port (and the TLS listener, once chosen)."""
        tls = self.mosquitto_dir / "tls"
        return MosquittoSettings(directory=self.mosquitto_dir, port=port, dynsec_plugin=plugin,
                                 host=self.host, autosave_interval_s=self.autosave_interval_s,
                                 autosave_on_changes=self.autosave_on_changes,
                                 max_queued_messages=self.max_queued_messages,
                                 run_as_root=os.geteuid() == 0,
                                 tls=None if self.tls_port is None else (
                                     self.tls_port, tls / "server.pem", tls / "server.key"))

    def node_url(self, name: str, direct: bool = False, tls: bool = False) -> str:
        """The URL clients dial for node ``name`` (its proxy), or the broker: ``tcp://``,
        or ``tls://`` for the TLS listener."""
        part = self._node(name)
        if tls:
            port = self.tls_port if direct else self.tls_proxy_port
            return f"tls://{self.host}:{port}"
        port = part.port if direct or part.proxy_port is None else part.proxy_port
        return f"tcp://{self.host}:{port}"

    # -- start ----------------------------------------------------------------------------

    def start(self) -> Target:
        """Make the accounts file and the config, start Toxiproxy and Mosquitto, wait until
        both answer, create the proxy, write target.toml and cluster.json. On any failure
        nothing is left running."""
        refuse_if_running(self.directory)
        installed = find_mosquitto()
        toxiproxy_bin = find_binary("toxiproxy-server")
        port, proxy_port, api_port, self.tls_port, self.tls_proxy_port = free_ports(
            self.host, 5)
        settings = self.settings(port, installed.plugin)
        # A new cluster starts with no sessions, no queued messages and no device accounts.
        shutil.rmtree(settings.data_path, ignore_errors=True)
        logs = self.directory / "logs"
        for folder in (logs, settings.data_path):
            folder.mkdir(parents=True, exist_ok=True)
        init_dynsec(installed.ctrl, settings.dynsec_path, ADMIN_USER, self.admin_password)
        ca, _, _ = make_certificates(self.mosquitto_dir / "tls", (self.host, "localhost"))
        shutil.copyfile(ca, self.directory / "ca.pem")  # what TLS clients trust
        settings.config_path.write_text(mosquitto_config(settings), encoding="utf-8")
        self.parts = {
            "toxiproxy": self._toxiproxy_part(toxiproxy_bin, api_port),
            NODE: Part(NODE, "node", port, [installed.broker, "-c", str(settings.config_path)],
                       str(logs / f"{NODE}.log"), proxy_port=proxy_port),
        }
        with self._stopped_on_failure():
            self._start_toxiproxy_and(self.parts[NODE])
            write_target(self.target(tls=True), self.directory / TLS_TARGET)
            return self._write_target()

    def target(self, tls: bool = False) -> Target:
        """The target file's content for this cluster (``tls``: MQTT over TLS through the
        proxy ``n1-tls``, trusting ``DIR/ca.pem``: ``DIR/target-mqtts.toml``)."""
        options = {"version": 5, "qos": self.qos, "session_expiry_s": SESSION_EXPIRY_S,
                   "register": True, "admin_user": ADMIN_USER,
                   "admin_password": self.admin_password, "topic_prefix": TOPIC_PREFIX,
                   "keepalive_s": KEEPALIVE_S}
        nodes = [NodeSpec(name=name, url=self.node_url(name, tls=tls),
                          proxy=f"{name}{TLS_PROXY}" if tls else name, **self._commands(name),
                          extra={"direct_url": self.node_url(name, direct=True, tls=tls)})
                 for name in self.node_names]
        target = Target(name=BACKEND, secret=self.secret, nodes=nodes,
                        toxiproxy_api=self.toxiproxy_api,
                        ca=self.directory / "ca.pem" if tls else None,
                        extra={"kind": BACKEND, "protocol": PROTOCOL, PROTOCOL: options},
                        path=self.target_path)
        # A broker's packet ids are labels; a user's inbox is numbered by the adapter.
        target.numbering = {"seq": "opaque", "useq": "contiguous"}
        return target

    def _node_proxies(self, part: Part) -> list[tuple[str, str, str]]:
        return super()._node_proxies(part) + [(f"{part.name}{TLS_PROXY}",
                                               f"{self.host}:{self.tls_proxy_port}",
                                               f"{self.host}:{self.tls_port}")]

    def _probe(self, part: Part) -> Callable[[], bool]:
        if part.kind != "node":
            return super()._probe(part)
        return lambda: mqtt_connack(self.host, part.port, ADMIN_USER, self.admin_password) == 0

    # -- cluster.json ---------------------------------------------------------------------

    def _state(self) -> dict[str, Any]:
        return {"secret": self.secret, "admin_password": self.admin_password,
                "qos": self.qos, "autosave_interval_s": self.autosave_interval_s,
                "autosave_on_changes": self.autosave_on_changes,
                "max_queued_messages": self.max_queued_messages, "protocol": self.protocol,
                "tls_port": self.tls_port, "tls_proxy_port": self.tls_proxy_port,
                "config": str(self.mosquitto_dir / "mosquitto.conf")}

    @classmethod
    def _from_state(cls, state: dict[str, Any]) -> MosquittoCluster:
        cluster = cls(Path(state["directory"]), secret=state["secret"], host=state["host"],
                      qos=int(state["qos"]), autosave_interval_s=state["autosave_interval_s"],
                      autosave_on_changes=bool(state["autosave_on_changes"]),
                      max_queued_messages=int(state["max_queued_messages"]),
                      protocol=state.get("protocol", PROTOCOL),
                      admin_password=state["admin_password"])
        cluster.tls_port = state.get("tls_port")
        cluster.tls_proxy_port = state.get("tls_proxy_port")
        return cluster
