"""Two clustered ejabberd nodes behind Toxiproxy: ``imload cluster up --backend ejabberd``.

``EjabberdCluster(dir).start()`` writes each node's ``DIR/ejabberd/<node>/ejabberd.yml``
(:mod:`~imload.cluster.backends.ejabberd_config`) and the Erlang cookie
``DIR/ejabberd/.erlang.cookie`` (HOME of every erl we run), then starts as children of the
:class:`~imload.cluster.processes.Supervisor`: ``toxiproxy-server``, a private ``epmd`` on
a free loopback port (``ERL_EPMD_PORT``: no system epmd is used or left behind) and the
nodes ``n1``, ``n2`` (``erl -name n1@127.0.0.1 ... -s ejabberd``, what ``ejabberdctl
foreground`` runs; output in ``DIR/logs/<node>.log``). Once each websocket endpoint
answers, ``n2`` joins ``n1`` (ejabberd's ``join_cluster``); then two Toxiproxy proxies
per node (``n1`` in front of its websocket endpoint, ``n1-c2s`` in front of its c2s port),
``DIR/cluster.json`` (``"backend": "ejabberd"``) and the target files:
``DIR/target-xmpp.toml`` (WebSocket), ``DIR/target-xmpp-tcp.toml`` (TCP with STARTTLS)
and ``DIR/target.toml`` (the cluster's ``protocol``, one of those two).

Every node offers STARTTLS on c2s (not required) with a certificate for 127.0.0.1 and
the domain from a throwaway CA (:func:`make_certificates`, in ``DIR/ejabberd/tls``);
xmpp-tcp clients trust ``DIR/ca.pem``, a copy of that CA.

Accounts, rosters and archives are Mnesia tables replicated on both nodes, on disk in each
node's ``spool``: emptied by ``start``, kept by ``restart_node``, so a killed node started
again rejoins the cluster. A missing ejabberd is installed (as root) by
``scripts/install-package.sh ejabberd``, which starts no system service.
"""

from __future__ import annotations

import datetime
import os
import secrets
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from imload.cluster.backends import ejabberd_config as cfg
from imload.cluster.backends.ejabberd_config import (
    EjabberdSettings,
    Installation,
    epmd_answers,
    find_ejabberd,
)
from imload.cluster.backends.xmpp_targets import (
    C2S_PROXY,
    check_protocol,
    write_protocol_targets,
    xmpp_target,
)
from imload.cluster.processes import (
    ClusterError,
    Part,
    find_binary,
    free_ports,
    http_ok,
    tail,
)
from imload.cluster.supervised import SupervisedCluster, refuse_if_running
from imload.cluster.target import Target

BACKEND = "ejabberd"
CTL_TIMEOUT_S = 60.0
CERT_DAYS = 3650  # ejabberd's pkix arms an Erlang timer for the expiry: not centuries away


def make_certificates(folder: Path, hosts: tuple[str, ...]) -> tuple[Path, Path, Path]:
    """``reference_server.tls.make_certificates`` with a server certificate that expires in
    ``CERT_DAYS``: trustme's default (the year 3000) makes ejabberd 23.01's certificate
    store crash (``pkix`` arms a timer for the expiry, ``erlang:start_timer`` says badarg)
    and offer ``<starttls/>`` only to answer it with ``<failure/>``. Returns the paths of
    ``ca.pem``, ``server.pem`` and ``server.key``."""
    import trustme

    folder.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA(organization_name="imload local cluster")
    now = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
    cert = ca.issue_cert(*hosts, not_before=now - datetime.timedelta(days=1),
                         not_after=now + datetime.timedelta(days=CERT_DAYS))
    paths = folder / "ca.pem", folder / "server.pem", folder / "server.key"
    ca.cert_pem.write_to_path(str(paths[0]))
    paths[1].write_bytes(b"".join(blob.bytes() for blob in cert.cert_chain_pems))
    cert.private_key_pem.write_to_path(str(paths[2]))
    paths[2].chmod(0o600)
    return paths


class EjabberdCluster(SupervisedCluster):
    """Clustered ejabberd nodes (``n1``, ``n2`` ...), their epmd and Toxiproxy in ``directory``."""

    backend = BACKEND
    label = "ejabberd "
    websocket_path = cfg.WEBSOCKET_PATH

    def __init__(self, directory: Path, secret: str | None = None, *, nodes: int = 2,
                 domain: str = "localhost", smacks: bool = True, auth_cache: bool = False,
                 host: str = "127.0.0.1", ready_timeout_s: float = 30.0,
                 stop_grace_s: float = 10.0, protocol: str = "xmpp") -> None:
        if not 1 <= nodes <= 9:
            raise ClusterError(f"the ejabberd backend runs 1 to 9 nodes, got nodes={nodes}")
        super().__init__(directory, secret, host, ready_timeout_s, stop_grace_s)
        self.protocol = check_protocol(BACKEND, protocol)
        self.nodes = nodes
        self.domain = domain
        self.smacks = smacks
        self.auth_cache = auth_cache
        self.c2s_ports: dict[str, int] = {}
        self.c2s_proxy_ports: dict[str, int] = {}  # Toxiproxy in front of c2s (xmpp-tcp)
        self.install: Installation | None = None

    # -- paths and names -------------------------------------------------------------------

    @property
    def home(self) -> Path:
        """HOME of every erl we start: holds the cluster's ``.erlang.cookie``."""
        return self.directory / "ejabberd"

    @property
    def tls_dir(self) -> Path:
        """The throwaway CA and the nodes' certificate (``server.pem``, ``server.key``)."""
        return self.home / "tls"

    def settings(self, name: str, http_port: int = 0, c2s_port: int = 0) -> EjabberdSettings:
        """The config of node ``name`` (on the ports recorded for it unless given)."""
        part = self.parts.get(name)
        return EjabberdSettings(
            directory=self.home / name, name=name, domain=self.domain, smacks=self.smacks,
            auth_cache=self.auth_cache, host=self.host,
            tls=(self.tls_dir / "server.pem", self.tls_dir / "server.key"),
            http_port=http_port or (part.port if part else 0),
            c2s_port=c2s_port or self.c2s_ports.get(name, 0))

    # -- start ----------------------------------------------------------------------------

    def start(self) -> Target:
        """Write the configs and the cookie, start Toxiproxy, epmd and the nodes, wait until
        they answer, join them into one cluster, create the proxies, write target.toml and
        cluster.json. On any failure nothing is left running."""
        refuse_if_running(self.directory)
        self.install = find_ejabberd()
        toxiproxy_bin = find_binary("toxiproxy-server")
        shutil.rmtree(self.home, ignore_errors=True)  # a new cluster: no accounts, no archive
        logs = self.directory / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        self.home.mkdir(parents=True)
        cookie = self.home / ".erlang.cookie"
        cookie.write_text(secrets.token_hex(20))
        cookie.chmod(0o400)  # erl refuses a cookie file others can read
        ca, _, _ = make_certificates(self.tls_dir, (self.host, self.domain,
                                                    f"conference.{self.domain}"))
        shutil.copyfile(ca, self.directory / "ca.pem")  # what xmpp-tcp clients trust
        ports = iter(free_ports(self.host, 2 + 4 * self.nodes))
        api_port, epmd_port = next(ports), next(ports)
        self.parts = {
            "toxiproxy": self._toxiproxy_part(toxiproxy_bin, api_port),
            "epmd": Part("epmd", "epmd", epmd_port,
                         cfg.epmd_command(self.install.epmd, self.host, epmd_port),
                         str(logs / "epmd.log")),
        }
        for name in self.node_names:
            http_port, c2s_port, proxy_port = next(ports), next(ports), next(ports)
            self.c2s_ports[name], self.c2s_proxy_ports[name] = c2s_port, next(ports)
            s = self.settings(name, http_port, c2s_port)
            for folder in (s.spool_path, s.log_path.parent):
                folder.mkdir(parents=True)
            s.config_path.write_text(cfg.ejabberd_config(s), encoding="utf-8")
            self.parts[name] = Part(name, "node", http_port, cfg.node_command(s, self.install.erl),
                                    str(logs / f"{name}.log"), proxy_port=proxy_port)
        with self._stopped_on_failure():
            self._spawn(self.parts["toxiproxy"])
            self._spawn(self.parts["epmd"])
            self._wait_ready(self.parts["epmd"])
            for name in self.node_names:
                self._spawn(self.parts[name])
            self._wait_ready(self.parts["toxiproxy"])
            for name in self.node_names:
                self._wait_ready(self.parts[name])
            self._join_cluster()
            self._create_proxies()
            write_protocol_targets(self)
            return self._write_target()

    def _join_cluster(self) -> None:
        """Join every node but the first to the first (ejabberd restarts itself on the
        joining node, its local tables replaced by copies of the cluster's); then check
        that the first node lists them all."""
        first, *others = self.node_names
        for name in others:
            self.ctl(name, "join_cluster", self.settings(first).erlang_node)
            self._wait_ready(self.parts[name])
        if others:
            listed = self.ctl(first, "list_cluster")
            missing = [n for n in self.node_names if self.settings(n).erlang_node not in listed]
            if missing:
                raise ClusterError(f"ejabberd: {', '.join(missing)} not in the cluster after "
                                   f"join_cluster; list_cluster said:\n{listed}")

    def ctl(self, node: str, *command: str) -> str:
        """Run an ejabberdctl command on node ``node`` (``erl ... -s ejabberd_ctl -extra
        NODE COMMAND...``, what ejabberdctl runs) and return its output; ClusterError when
        it fails."""
        install = self.install or find_ejabberd(install=False)
        erlang_node = self.settings(node).erlang_node
        cmd = cfg.ctl_command(install.erl, self.host, f"ctl-{secrets.token_hex(4)}", erlang_node,
                          command)
        env = cfg.erlang_env(dict(os.environ), self.home, self.parts["epmd"].port,
                         install.erl_libs)
        try:
            done = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True,
                                  text=True, env=env, cwd=self.home, timeout=CTL_TIMEOUT_S,
                                  check=False)
        except subprocess.TimeoutExpired:
            raise ClusterError(f"ejabberdctl {' '.join(command)} on {erlang_node}: no answer "
                               f"after {CTL_TIMEOUT_S:g} s") from None
        out = done.stdout + done.stderr
        if done.returncode != 0:
            raise ClusterError(f"ejabberdctl {' '.join(command)} on {erlang_node} failed "
                               f"(exit {done.returncode}):\n{out.strip()}\n"
                               f"end of {self.parts[node].log}:\n{tail(self.parts[node].log)}")
        return out

    def target(self, protocol: str | None = None) -> Target:
        """The target file's content for this cluster, in ``protocol`` (xmpp: WebSocket;
        xmpp-tcp: TCP with STARTTLS; default: the cluster's)."""
        return xmpp_target(self, protocol or self.protocol, self.c2s_proxy_ports.get,
                           self.c2s_ports.get,
                           lambda name: {"erlang_node": self.settings(name).erlang_node})

    def _env(self, part: Part) -> dict[str, str]:
        if part.kind == "node":
            install = self.install or find_ejabberd(install=False)
            return cfg.node_env(self.settings(part.name), dict(os.environ), self.home,
                                self.parts["epmd"].port, install.erl_libs)
        return super()._env(part) if part.kind == "toxiproxy" else dict(os.environ)

    def _probe(self, part: Part) -> Callable[[], bool]:
        if part.kind == "epmd":
            return lambda: epmd_answers(self.host, part.port)
        if part.kind != "node":
            return super()._probe(part)
        url = f"http://{self.host}:{part.port}{cfg.WEBSOCKET_PATH}"  # answers a GET: 200
        return lambda: http_ok(url)

    def _node_proxies(self, part: Part) -> list[tuple[str, str, str]]:
        proxies = super()._node_proxies(part)
        if part.name in self.c2s_proxy_ports:  # absent from an older cluster.json
            proxies.append((f"{part.name}{C2S_PROXY}",
                            f"{self.host}:{self.c2s_proxy_ports[part.name]}",
                            f"{self.host}:{self.c2s_ports[part.name]}"))
        return proxies

    # -- cluster.json ---------------------------------------------------------------------

    def _state(self) -> dict[str, Any]:
        return {"domain": self.domain, "smacks": self.smacks, "auth_cache": self.auth_cache,
                "nodes": self.nodes, "secret": self.secret, "protocol": self.protocol,
                "c2s_ports": self.c2s_ports, "c2s_proxy_ports": self.c2s_proxy_ports,
                "install": asdict(self.install) if self.install else None}

    @classmethod
    def _from_state(cls, state: dict[str, Any]) -> EjabberdCluster:
        cluster = cls(Path(state["directory"]), secret=state["secret"],
                      nodes=int(state["nodes"]), domain=state["domain"],
                      smacks=bool(state["smacks"]),
                      auth_cache=bool(state.get("auth_cache", False)), host=state["host"],
                      protocol=state.get("protocol", "xmpp"))
        cluster.c2s_ports = {str(k): int(v) for k, v in state["c2s_ports"].items()}
        cluster.c2s_proxy_ports = {str(k): int(v)
                                   for k, v in state.get("c2s_proxy_ports", {}).items()}
        if state.get("install"):
            cluster.install = Installation(**state["install"])
        return cluster
