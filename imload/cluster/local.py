"""The local reference cluster: redis-server, toxiproxy-server, N reference nodes and an LBS.

``LocalCluster(dir).start()`` starts every part as a child process in its own session
(so a signal reaches the part and nothing else), with its output in ``DIR/logs/``; waits
until each answers (Redis ``PING``, the Toxiproxy API, the node's ``/healthz``); creates
one Toxiproxy proxy per node on the client path; and writes

- ``DIR/target.toml``: the target file clients and drills use (node URLs are the proxies,
  ``lbs`` the LBS, which hands out the proxy URLs too; with ``tls=True``, ``wss://`` and
  ``https://`` URLs and ``ca = "ca.pem"``, a throwaway CA made for this cluster),
- ``DIR/cluster.json``: ports, pids, command lines and log paths, so another process
  (``imload cluster down/status/kill/restart``) can ``LocalCluster.load(DIR)`` it.

The store lives in ``DIR/redis`` (append-only file, fsync on every write unless
``appendfsync`` says otherwise, no snapshots), emptied when a cluster starts; ``stop``
keeps it and the logs. ``kill_part``/``restart_part`` also reach ``redis``, ``toxiproxy``
and ``lbs`` (store kills in drills). ``node_args`` are added to every node's command line
(e.g. ``["--max-conns", "100"]``).

Pids are checked against their process start time before any signal is sent, so a stale
``cluster.json`` never signals an unrelated process that reused a pid.
"""

from __future__ import annotations

import json
import os
import secrets
import shlex
import shutil
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from imload.cluster.processes import (
    REPO,
    ClusterError,
    Part,
    Supervisor,
    find_binary,
    free_ports,
    http_ok,
    redis_answers,
    tail,
)
from imload.cluster.target import NodeSpec, Target, write_target
from imload.faults.toxiproxy import ToxiproxyAPI, ToxiproxyError

__all__ = ["ClusterError", "LocalCluster", "Part"]

STATE_FILE = "cluster.json"
TARGET_FILE = "target.toml"
STATE_VERSION = 1


class LocalCluster:
    """A reference cluster on this machine, in ``directory``."""

    def __init__(self, directory: Path, nodes: int = 3, secret: str | None = None,
                 bug: str | None = None, host: str = "127.0.0.1",
                 ready_timeout_s: float = 20.0, stop_grace_s: float = 5.0, *,
                 tls: bool = False, node_args: Sequence[str] = (),
                 appendfsync: str = "always", store_proxy: bool = True,
                 per_node_args: dict[str, Sequence[str]] | None = None,
                 profiles: Sequence[str] = ()) -> None:
        if nodes < 1:
            raise ClusterError(f"a cluster needs at least one node, got {nodes}")
        self.directory = Path(directory).resolve()
        self.nodes = nodes
        self.secret = secret or secrets.token_hex(32)
        self.bug = bug
        self.host = host
        self.ready_timeout_s = ready_timeout_s
        self.stop_grace_s = stop_grace_s
        self.tls = tls
        self.node_args = list(node_args)
        self.per_node_args = {k: list(v) for k, v in (per_node_args or {}).items()}
        self.profiles = list(profiles)
        self.profile_ports: dict[str, int] = {}  # "<node>.<profile>" -> its proxy's port
        if appendfsync not in ("always", "everysec", "no"):
            raise ClusterError(f"appendfsync must be always, everysec or no; got {appendfsync!r}")
        self.appendfsync = appendfsync
        self.store_proxy = store_proxy
        self.store_proxy_port: int | None = None
        self.parts: dict[str, Part] = {}
        self._sup = Supervisor()

    # -- paths and names -------------------------------------------------------------------

    @property
    def node_names(self) -> list[str]:
        return [f"n{i}" for i in range(1, self.nodes + 1)]

    @property
    def state_path(self) -> Path:
        return self.directory / STATE_FILE

    @property
    def target_path(self) -> Path:
        return self.directory / TARGET_FILE

    @property
    def redis_url(self) -> str:
        return f"redis://{self.host}:{self.parts['redis'].port}/0"

    @property
    def node_redis_url(self) -> str:
        """The store as nodes reach it: through the ``store`` proxy when there is one."""
        if self.store_proxy_port is None:
            return self.redis_url
        return f"redis://{self.host}:{self.store_proxy_port}/0"

    @property
    def toxiproxy_api(self) -> str:
        return f"http://{self.host}:{self.parts['toxiproxy'].port}"

    @property
    def ca_path(self) -> Path | None:
        """The CA clients must trust (``tls=True``), else None."""
        return self.directory / "ca.pem" if self.tls else None

    @property
    def lbs_url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.parts['lbs'].port}"

    def node_url(self, name: str, direct: bool = False) -> str:
        """The URL clients dial for node ``name`` (its proxy), or the node itself."""
        part = self._node(name)
        port = part.port if direct or part.proxy_port is None else part.proxy_port
        return f"{'wss' if self.tls else 'ws'}://{self.host}:{port}/ws"

    def _node(self, name: str) -> Part:
        part = self.parts.get(name)
        if part is None or part.kind != "node":
            known = ", ".join(p.name for p in self.parts.values() if p.kind == "node")
            raise ClusterError(f"no node {name!r} in the cluster at {self.directory}; "
                               f"nodes: {known}")
        return part

    # -- start ----------------------------------------------------------------------------

    def start(self) -> Target:
        """Start every part, wait until each is ready, write target.toml and cluster.json."""
        if self.state_path.exists():
            try:
                old = LocalCluster.load(self.directory)
            except ClusterError:
                old = None
            if old is not None and any(old._alive(p) for p in old.parts.values()):
                raise ClusterError(f"a cluster is already running in {self.directory}: "
                                   f"stop it first (imload cluster down --dir {self.directory})")
        redis_bin = find_binary("redis-server")
        toxiproxy_bin = find_binary("toxiproxy-server")
        # A new cluster starts with an empty store (a previous run's data would show up as
        # messages nobody sent); logs of earlier runs are kept and appended to.
        shutil.rmtree(self.directory / "redis", ignore_errors=True)
        for sub in ("logs", "redis"):
            (self.directory / sub).mkdir(parents=True, exist_ok=True)
        tls_args: list[str] = []
        if self.tls:
            from reference_server.tls import make_certificates

            _, chain, key = make_certificates(self.directory / "tls")
            os.replace(self.directory / "tls" / "ca.pem", self.directory / "ca.pem")
            tls_args = ["--cert", str(chain), "--key", str(key)]
        extra = [f"{n}.{p}" for n in self.node_names for p in self.profiles]
        ports = free_ports(self.host, 4 + 2 * self.nodes + len(extra))
        self.profile_ports = dict(zip(extra, ports[4 + 2 * self.nodes:], strict=True))
        self.store_proxy_port = ports[3 + 2 * self.nodes] if self.store_proxy else None
        logs = self.directory / "logs"
        self.parts = {
            "redis": Part("redis", "redis", ports[0], [
                redis_bin, "--port", str(ports[0]), "--bind", self.host,
                "--dir", str(self.directory / "redis"), "--appendonly", "yes",
                "--appendfsync", self.appendfsync, "--save", "", "--daemonize", "no"],
                str(logs / "redis.log")),
            "toxiproxy": Part("toxiproxy", "toxiproxy", ports[1], [
                toxiproxy_bin, "-host", self.host, "-port", str(ports[1])],
                str(logs / "toxiproxy.log")),
        }
        self.parts["lbs"] = Part("lbs", "lbs", ports[2], [
            sys.executable, "-m", "reference_server.lbs", "--host", self.host,
            "--port", str(ports[2]), "--redis", self.redis_url, *tls_args],
            str(logs / "lbs.log"))
        for i, name in enumerate(self.node_names):
            port, proxy_port = ports[3 + 2 * i], ports[4 + 2 * i]
            self.parts[name] = Part(name, "node", port, [], str(logs / f"{name}.log"),
                                    proxy_port=proxy_port)
            cmd = [sys.executable, "-m", "reference_server", "--node-id", name,
                   "--host", self.host, "--port", str(port), "--redis", self.node_redis_url,
                   "--secret", self.secret, "--public-url", self.node_url(name), *tls_args,
                   *self.node_args, *self.per_node_args.get(name, [])]
            if self.bug:
                cmd += ["--bug", self.bug]
            self.parts[name].cmd = cmd
        try:
            self._spawn(self.parts["redis"])
            self._spawn(self.parts["toxiproxy"])
            self._wait_ready(self.parts["redis"])
            self._spawn(self.parts["lbs"])
            self._wait_ready(self.parts["toxiproxy"])
            self._create_proxies()  # the store proxy must be there before the nodes dial it
            for name in self.node_names:
                self._spawn(self.parts[name])
            self._wait_ready(self.parts["lbs"])
            for name in self.node_names:
                self._wait_ready(self.parts[name])
            target = self.target()
            write_target(target, self.target_path)
            self._save()
        except BaseException:
            self.stop()
            raise
        return target

    def target(self) -> Target:
        """The target file's content for this cluster."""
        py = shlex.quote(sys.executable)
        d = shlex.quote(str(self.directory))

        def signal_cmd(sig: str, part: str) -> str:
            # a shell builtin on the pid file: milliseconds, so faults start on time
            return f"kill -s {sig} $(cat {d}/pids/{part}.pid)"

        def restart_cmd(name: str) -> str:
            return f"{py} -m imload cluster restart --dir {d} --node {name}"
        nodes = [NodeSpec(
            name=name, url=self.node_url(name), proxy=name,
            kill=signal_cmd("KILL", name), restart=restart_cmd(name),
            pause=signal_cmd("STOP", name), resume=signal_cmd("CONT", name),
            extra={"direct_url": self.node_url(name, direct=True),
                   **({"profiles": {p: {"url": self._profile_url(name, p),
                                        "proxy": f"{name}.{p}"} for p in self.profiles}}
                      if self.profiles else {})},
        ) for name in self.node_names]
        store = NodeSpec(name="store", url="", proxy="store" if self.store_proxy else None,
                         kill=signal_cmd("KILL", "redis"), restart=restart_cmd("store"),
                         pause=signal_cmd("STOP", "redis"), resume=signal_cmd("CONT", "redis"))
        return Target(name="local", secret=self.secret, nodes=nodes,
                      toxiproxy_api=self.toxiproxy_api, lbs=self.lbs_url, ca=self.ca_path,
                      extra={"kind": "local", "redis": self.redis_url},
                      path=self.target_path, store=store)

    def _spawn(self, part: Part) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
        env["PYTHONUNBUFFERED"] = "1"
        env.setdefault("LOG_LEVEL", "info")  # toxiproxy: no line per API request
        shown = [shlex.quote("***" if a == self.secret else a) for a in part.cmd]
        self._sup.spawn(part, self.directory, env, shown)
        self._save()

    def _wait_ready(self, part: Part) -> None:
        scheme = "https" if self.tls else "http"
        ca = str(self.ca_path) if self.ca_path else None
        probes: dict[str, Callable[[], bool]] = {
            "redis": lambda: redis_answers(self.host, part.port),
            "toxiproxy": lambda: http_ok(f"http://{self.host}:{part.port}/proxies"),
            "node": lambda: http_ok(f"{scheme}://{self.host}:{part.port}/healthz", ca),
            "lbs": lambda: http_ok(f"{scheme}://{self.host}:{part.port}/healthz", ca),
        }
        self._sup.wait_ready(part, probes[part.kind], self.ready_timeout_s)

    def _alive(self, part: Part) -> bool:
        return self._sup.alive(part)

    # -- process control ------------------------------------------------------------------

    def _refresh(self) -> None:
        """Take pids from cluster.json: another process may have killed or restarted a part."""
        try:
            state = json.loads(self.state_path.read_text(encoding="utf-8"))
            recorded = state["parts"]
        except (OSError, ValueError, KeyError, TypeError):
            return
        for name, part in self.parts.items():
            row = recorded.get(name)
            if isinstance(row, dict) and row.get("pid") != part.pid:
                part.pid, part.start_ticks = row.get("pid"), row.get("start_ticks")

    def stop(self) -> None:
        """Stop every part (nodes first, the store last); idempotent; keeps logs and data."""
        self._refresh()
        nodes = [p for p in self.parts.values() if p.kind == "node"]
        others = [p for p in self.parts.values() if p.kind != "node"]
        try:
            self._sup.terminate(nodes, self.stop_grace_s)
            self._sup.terminate(others, self.stop_grace_s)
        finally:
            if self.parts and self.directory.is_dir():
                self._save()

    def kill_node(self, name: str) -> None:
        """SIGKILL node ``name`` (its proxy stays, so clients see connections fail)."""
        self.kill_part(self._node(name).name)

    def restart_node(self, name: str) -> None:
        """Start node ``name`` again on the same port (stopping it first if it runs)."""
        self.restart_part(self._node(name).name)

    def _part(self, name: str) -> Part:
        part = self.parts.get(name)
        if part is None:
            raise ClusterError(f"no part {name!r} in the cluster at {self.directory}; "
                               f"parts: {', '.join(self.parts)}")
        return part

    def kill_part(self, name: str) -> None:
        """SIGKILL any part: a node, ``redis`` (the store), ``toxiproxy`` or ``lbs``."""
        self._refresh()
        part = self._part(name)
        self._sup.kill(part)
        self._save()

    def restart_part(self, name: str) -> None:
        """Start a part again with the same command line and port; wait until it is ready.

        The store comes back from its append-only file; Toxiproxy comes back without
        proxies, so restarting it also creates them again.
        """
        self._refresh()
        part = self._part(name)
        if self._alive(part):
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

    def _profile_url(self, node: str, profile: str) -> str:
        port = self.profile_ports[f"{node}.{profile}"]
        return f"{'wss' if self.tls else 'ws'}://{self.host}:{port}/ws"

    def _create_proxies(self) -> None:
        api = ToxiproxyAPI(self.toxiproxy_api)
        if self.store_proxy_port is not None:
            try:
                api.create_proxy("store", f"{self.host}:{self.store_proxy_port}",
                                 f"{self.host}:{self.parts['redis'].port}")
            except ToxiproxyError as e:
                raise ClusterError(f"toxiproxy: could not create the store proxy: {e}") from None
        for part in self.parts.values():
            if part.kind != "node":
                continue
            try:
                api.create_proxy(part.name, f"{self.host}:{part.proxy_port}",
                                 f"{self.host}:{part.port}")
                for profile in self.profiles:  # per-user network profiles: own proxies
                    name = f"{part.name}.{profile}"
                    api.create_proxy(name, f"{self.host}:{self.profile_ports[name]}",
                                     f"{self.host}:{part.port}")
            except ToxiproxyError as e:
                raise ClusterError(f"toxiproxy: could not create proxy {part.name}: {e}\n"
                                   f"{tail(self.parts['toxiproxy'].log)}") from None

    def status(self) -> dict[str, dict[str, Any]]:
        """Each part: kind, pid, alive, port (and proxy_port for nodes), log."""
        self._refresh()
        out: dict[str, dict[str, Any]] = {}
        for p in self.parts.values():
            alive = self._alive(p)
            row: dict[str, Any] = {"kind": p.kind, "pid": p.pid if alive else None,
                                   "alive": alive, "port": p.port, "log": p.log}
            if p.proxy_port is not None:
                row["proxy_port"] = p.proxy_port
            out[p.name] = row
        return out

    # -- cluster.json ---------------------------------------------------------------------

    def _save(self) -> None:
        state = {
            "version": STATE_VERSION, "directory": str(self.directory), "host": self.host,
            "nodes": self.nodes, "secret": self.secret, "bug": self.bug, "tls": self.tls,
            "node_args": self.node_args, "appendfsync": self.appendfsync,
            "store_proxy_port": self.store_proxy_port, "per_node_args": self.per_node_args,
            "profiles": self.profiles, "profile_ports": self.profile_ports,
            "target": str(self.target_path),
            "parts": {name: asdict(p) for name, p in self.parts.items()},
        }
        tmp = self.state_path.with_name(f".{STATE_FILE}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(state, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, self.state_path)
        pids = self.directory / "pids"  # for the target's kill/pause commands
        pids.mkdir(exist_ok=True)
        for name, p in self.parts.items():
            f = pids / f"{name}.pid"
            tmp = f.with_name(f".{name}.pid.{os.getpid()}.tmp")
            tmp.write_text("" if p.pid is None else f"{p.pid}\n")
            os.replace(tmp, f)

    @classmethod
    def load(cls, directory: Path) -> LocalCluster:
        """The cluster recorded in ``DIR/cluster.json`` (for down/status/kill/restart)."""
        path = Path(directory).resolve() / STATE_FILE
        try:
            state = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ClusterError(f"no cluster in {path.parent}: {STATE_FILE} not found "
                               f"(start one with imload cluster up --dir {path.parent})") from None
        except (OSError, ValueError) as e:
            raise ClusterError(f"{path}: unreadable: {e}") from None
        try:
            if state.get("version") != STATE_VERSION:
                raise ClusterError(f"{path}: version {state.get('version')!r}, "
                                   f"expected {STATE_VERSION}")
            cluster = cls(Path(state["directory"]), nodes=int(state["nodes"]),
                          secret=state["secret"], bug=state.get("bug"), host=state["host"],
                          tls=bool(state.get("tls", False)),
                          node_args=list(state.get("node_args", [])),
                          appendfsync=state.get("appendfsync", "always"),
                          store_proxy=state.get("store_proxy_port") is not None,
                          per_node_args=state.get("per_node_args") or {},
                          profiles=state.get("profiles") or ())
            cluster.profile_ports = state.get("profile_ports") or {}
            cluster.store_proxy_port = state.get("store_proxy_port")
            cluster.parts = {name: Part(**p) for name, p in state["parts"].items()}
        except (KeyError, TypeError, ValueError) as e:
            raise ClusterError(f"{path}: not a cluster state file: {e}") from None
        return cluster
