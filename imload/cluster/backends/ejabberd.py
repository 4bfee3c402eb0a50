"""Two clustered ejabberd nodes behind Toxiproxy: ``imload cluster up --backend ejabberd``.

``EjabberdCluster(dir).start()`` writes each node's ``DIR/ejabberd/<node>/ejabberd.yml``
(:mod:`~imload.cluster.backends.ejabberd_config`) and the Erlang cookie
``DIR/ejabberd/.erlang.cookie`` (HOME of every erl we run), then starts as children of the
:class:`~imload.cluster.processes.Supervisor`: ``toxiproxy-server``, a private ``epmd`` on
a free loopback port (``ERL_EPMD_PORT``: no system epmd is used or left behind) and the
nodes ``n1``, ``n2`` (``erl -name n1@127.0.0.1 ... -s ejabberd``, what ``ejabberdctl
foreground`` runs; output in ``DIR/logs/<node>.log``). Once each websocket endpoint
answers, ``n2`` joins ``n1`` (ejabberd's ``join_cluster``); then one Toxiproxy proxy per
node, ``DIR/target.toml`` and ``DIR/cluster.json`` (``"backend": "ejabberd"``).

Accounts, rosters and archives are Mnesia tables replicated on both nodes, on disk in each
node's ``spool``: emptied by ``start``, kept by ``restart_node``, so a killed node started
again rejoins the cluster. A missing ejabberd is installed (as root) by
``scripts/install-package.sh ejabberd``, which starts no system service.
"""

from __future__ import annotations

import json
import os
import secrets
import shlex
import shutil
import subprocess
import sys
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
from imload.cluster.processes import (
    ClusterError,
    Part,
    Supervisor,
    find_binary,
    free_ports,
    http_ok,
    tail,
)
from imload.cluster.target import NodeSpec, Target, write_target
from imload.faults.toxiproxy import ToxiproxyAPI, ToxiproxyError

STATE_FILE = "cluster.json"
TARGET_FILE = "target.toml"
STATE_VERSION = 1
BACKEND = "ejabberd"
CTL_TIMEOUT_S = 60.0


class EjabberdCluster:
    """Clustered ejabberd nodes (``n1``, ``n2`` ...), their epmd and Toxiproxy in ``directory``."""

    backend = BACKEND

    def __init__(self, directory: Path, secret: str | None = None, *, nodes: int = 2,
                 domain: str = "localhost", smacks: bool = True, auth_cache: bool = False,
                 host: str = "127.0.0.1", ready_timeout_s: float = 30.0,
                 stop_grace_s: float = 10.0) -> None:
        if not 1 <= nodes <= 9:
            raise ClusterError(f"the ejabberd backend runs 1 to 9 nodes, got nodes={nodes}")
        self.directory = Path(directory).resolve()
        self.secret = secret or secrets.token_hex(32)
        self.nodes = nodes
        self.domain = domain
        self.smacks = smacks
        self.auth_cache = auth_cache
        self.host = host
        self.ready_timeout_s = ready_timeout_s
        self.stop_grace_s = stop_grace_s
        self.c2s_ports: dict[str, int] = {}
        self.install: Installation | None = None
        self.parts: dict[str, Part] = {}
        self._sup = Supervisor()

    # -- paths and names -------------------------------------------------------------------

    @property
    def node_names(self) -> list[str]:
        return [f"n{i}" for i in range(1, self.nodes + 1)]  # as every backend: n1, n2, ...

    @property
    def target_path(self) -> Path:
        return self.directory / TARGET_FILE

    @property
    def home(self) -> Path:
        """HOME of every erl we start: holds the cluster's ``.erlang.cookie``."""
        return self.directory / "ejabberd"

    @property
    def toxiproxy_api(self) -> str:
        return f"http://{self.host}:{self.parts['toxiproxy'].port}"

    def settings(self, name: str, http_port: int = 0, c2s_port: int = 0) -> EjabberdSettings:
        """The config of node ``name`` (on the ports recorded for it unless given)."""
        part = self.parts.get(name)
        return EjabberdSettings(
            directory=self.home / name, name=name, domain=self.domain, smacks=self.smacks,
            auth_cache=self.auth_cache, host=self.host,
            http_port=http_port or (part.port if part else 0),
            c2s_port=c2s_port or self.c2s_ports.get(name, 0))

    def node_url(self, name: str, direct: bool = False) -> str:
        """The websocket URL clients dial for node ``name`` (its proxy), or the node itself."""
        part = self._node(name)
        port = part.port if direct or part.proxy_port is None else part.proxy_port
        return f"ws://{self.host}:{port}{cfg.WEBSOCKET_PATH}"

    def _node(self, name: str) -> Part:
        return self._part(name, kind="node")

    def _part(self, name: str, kind: str | None = None) -> Part:
        part = self.parts.get(name)
        if part is None or kind not in (None, part.kind):
            names = [n for n, p in self.parts.items() if kind in (None, p.kind)]
            raise ClusterError(f"no {kind or 'part'} {name!r} in the ejabberd cluster at "
                               f"{self.directory}; {kind or 'part'}s: {', '.join(names)}")
        return part

    # -- start ----------------------------------------------------------------------------

    def start(self) -> Target:
        """Write the configs and the cookie, start Toxiproxy, epmd and the nodes, wait until
        they answer, join them into one cluster, create the proxies, write target.toml and
        cluster.json. On any failure nothing is left running."""
        from imload.cluster.backends import refuse_if_running

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
        ports = iter(free_ports(self.host, 2 + 3 * self.nodes))
        api_port, epmd_port = next(ports), next(ports)
        self.parts = {
            "toxiproxy": Part("toxiproxy", "toxiproxy", api_port, [
                toxiproxy_bin, "-host", self.host, "-port", str(api_port)],
                str(logs / "toxiproxy.log")),
            "epmd": Part("epmd", "epmd", epmd_port,
                         cfg.epmd_command(self.install.epmd, self.host, epmd_port),
                         str(logs / "epmd.log")),
        }
        for name in self.node_names:
            http_port, c2s_port, proxy_port = next(ports), next(ports), next(ports)
            self.c2s_ports[name] = c2s_port
            s = self.settings(name, http_port, c2s_port)
            for folder in (s.spool_path, s.log_path.parent):
                folder.mkdir(parents=True)
            s.config_path.write_text(cfg.ejabberd_config(s), encoding="utf-8")
            self.parts[name] = Part(name, "node", http_port, cfg.node_command(s, self.install.erl),
                                    str(logs / f"{name}.log"), proxy_port=proxy_port)
        try:
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
            target = self.target()
            write_target(target, self.target_path)
            self._save()
        except BaseException:
            self.stop()
            raise
        return target

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

    def target(self) -> Target:
        """The target file's content for this cluster."""
        py = shlex.quote(sys.executable)
        d = shlex.quote(str(self.directory))

        def signal_cmd(sig: str, part: str) -> str:
            return f"kill -s {sig} $(cat {d}/pids/{part}.pid)"

        nodes = [NodeSpec(
            name=name, url=self.node_url(name), proxy=name,
            kill=signal_cmd("KILL", name),
            restart=f"{py} -m imload cluster restart --dir {d} --node {name}",
            pause=signal_cmd("STOP", name), resume=signal_cmd("CONT", name),
            extra={"direct_url": self.node_url(name, direct=True),
                   "c2s": f"{self.host}:{self.c2s_ports.get(name)}",
                   "erlang_node": self.settings(name).erlang_node},
        ) for name in self.node_names]
        xmpp = {"domain": self.domain, "register": True, "muc": f"conference.{self.domain}",
                "smacks": self.smacks}
        target = Target(name=BACKEND, secret=self.secret, nodes=nodes,
                        toxiproxy_api=self.toxiproxy_api,
                        extra={"kind": BACKEND, "protocol": "xmpp", "xmpp": xmpp},
                        path=self.target_path)
        # ejabberd's archive ids are opaque; a user's inbox is numbered by the client
        target.numbering = {"seq": "opaque", "useq": "contiguous"}
        return target

    def _spawn(self, part: Part) -> None:
        env = dict(os.environ)
        if part.kind == "node":
            install = self.install or find_ejabberd(install=False)
            env = cfg.node_env(self.settings(part.name), env, self.home, self.parts["epmd"].port,
                           install.erl_libs)
        elif part.kind == "toxiproxy":
            env.setdefault("LOG_LEVEL", "info")  # no line per API request
        self._sup.spawn(part, self.directory, env, [shlex.quote(a) for a in part.cmd])
        self._save()

    def _wait_ready(self, part: Part) -> None:
        # Toxiproxy's API; ejabberd's websocket endpoint answers a plain GET with 200
        path = "/proxies" if part.kind == "toxiproxy" else cfg.WEBSOCKET_PATH
        url = f"http://{self.host}:{part.port}{path}"
        self._sup.wait_ready(part, lambda: epmd_answers(self.host, part.port)
                             if part.kind == "epmd" else http_ok(url), self.ready_timeout_s)

    def _create_proxies(self) -> None:
        api = ToxiproxyAPI(self.toxiproxy_api)
        for part in self.parts.values():
            if part.kind != "node":
                continue
            try:
                api.create_proxy(part.name, f"{self.host}:{part.proxy_port}",
                                 f"{self.host}:{part.port}")
            except ToxiproxyError as e:
                raise ClusterError(f"toxiproxy: could not create proxy {part.name}: {e}\n"
                                   f"{tail(self.parts['toxiproxy'].log)}") from None

    # -- process control ------------------------------------------------------------------

    def _refresh(self) -> None:
        """Take pids from cluster.json: another process may have killed or restarted a part."""
        try:
            state = json.loads((self.directory / STATE_FILE).read_text(encoding="utf-8"))
            recorded = state["parts"]
        except (OSError, ValueError, KeyError, TypeError):
            return
        for name, part in self.parts.items():
            row = recorded.get(name)
            if isinstance(row, dict) and row.get("pid") != part.pid:
                part.pid, part.start_ticks = row.get("pid"), row.get("start_ticks")

    def stop(self) -> None:
        """Stop the nodes (SIGTERM: Erlang's init:stop), then epmd and Toxiproxy; idempotent;
        keeps the spool folders and the logs."""
        self._refresh()
        try:
            self._sup.terminate([p for p in self.parts.values() if p.kind == "node"],
                                self.stop_grace_s)
            self._sup.terminate([p for p in self.parts.values() if p.kind != "node"],
                                self.stop_grace_s)
        finally:
            if self.parts and self.directory.is_dir():
                self._save()

    def kill_node(self, name: str) -> None:
        """SIGKILL node ``name`` (its proxy stays, so clients see connections fail)."""
        self.kill_part(self._node(name).name)

    def restart_node(self, name: str) -> None:
        """Start node ``name`` again (same config, ports and spool): it rejoins the cluster."""
        self.restart_part(self._node(name).name)

    def kill_part(self, name: str) -> None:
        """SIGKILL a node, ``epmd`` or ``toxiproxy`` (with the children of its session)."""
        self._refresh()
        self._sup.kill(self._part(name))
        self._save()

    def restart_part(self, name: str) -> None:
        """Start a part again with the same command line; wait until it answers. Toxiproxy
        comes back without proxies, so restarting it creates them again."""
        self._refresh()
        part = self._part(name)
        if self._sup.alive(part):
            self._sup.terminate([part], self.stop_grace_s)
        self._spawn(part)
        try:
            self._wait_ready(part)
            if part.kind == "toxiproxy":
                self._create_proxies()
        except ClusterError:
            self._sup.terminate([part], self.stop_grace_s)
            self._save()
            raise

    def status(self) -> dict[str, dict[str, Any]]:
        """Each part: kind, pid, alive, port (and proxy_port for the nodes), log."""
        self._refresh()
        out: dict[str, dict[str, Any]] = {}
        for p in self.parts.values():
            alive = self._sup.alive(p)
            row: dict[str, Any] = {"kind": p.kind, "pid": p.pid if alive else None,
                                   "alive": alive, "port": p.port, "log": p.log}
            if p.proxy_port is not None:
                row["proxy_port"] = p.proxy_port
            out[p.name] = row
        return out

    # -- cluster.json ---------------------------------------------------------------------

    def _save(self) -> None:
        state = {
            "version": STATE_VERSION, "backend": BACKEND, "directory": str(self.directory),
            "host": self.host, "domain": self.domain, "smacks": self.smacks,
            "auth_cache": self.auth_cache, "nodes": self.nodes, "secret": self.secret,
            "c2s_ports": self.c2s_ports,
            "install": asdict(self.install) if self.install else None,
            "target": str(self.target_path),
            "parts": {name: asdict(p) for name, p in self.parts.items()},
        }
        tmp = self.directory / f".{STATE_FILE}.{os.getpid()}.tmp"
        tmp.write_text(json.dumps(state, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, self.directory / STATE_FILE)
        pids = self.directory / "pids"  # for the target's kill/pause commands
        pids.mkdir(exist_ok=True)
        for name, p in self.parts.items():
            f = pids / f"{name}.pid"
            tmp = f.with_name(f".{name}.pid.{os.getpid()}.tmp")
            tmp.write_text("" if p.pid is None else f"{p.pid}\n")
            os.replace(tmp, f)

    @classmethod
    def load(cls, directory: Path) -> EjabberdCluster:
        """The cluster recorded in ``DIR/cluster.json`` (for down/status/kill/restart)."""
        path = Path(directory).resolve() / STATE_FILE
        try:
            state = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ClusterError(f"no cluster in {path.parent}: {STATE_FILE} not found") from None
        except (OSError, ValueError) as e:
            raise ClusterError(f"{path}: unreadable: {e}") from None
        try:
            if state.get("version") != STATE_VERSION or state.get("backend") != BACKEND:
                raise ClusterError(f"{path}: not an ejabberd cluster (version "
                                   f"{state.get('version')!r}, backend {state.get('backend')!r})")
            cluster = cls(Path(state["directory"]), secret=state["secret"],
                          nodes=int(state["nodes"]), domain=state["domain"],
                          smacks=bool(state["smacks"]),
                          auth_cache=bool(state.get("auth_cache", False)), host=state["host"])
            cluster.c2s_ports = {str(k): int(v) for k, v in state["c2s_ports"].items()}
            if state.get("install"):
                cluster.install = Installation(**state["install"])
            cluster.parts = {name: Part(**p) for name, p in state["parts"].items()}
        except (KeyError, TypeError, ValueError) as e:
            raise ClusterError(f"{path}: not a cluster state file: {e}") from None
        return cluster
