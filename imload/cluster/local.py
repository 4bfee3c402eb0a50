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

import os
import shutil
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from imload.cluster.processes import (
    REPO,
    ClusterError,
    Part,
    find_binary,
    free_ports,
    http_ok,
    redis_answers,
)
from imload.cluster.supervised import SupervisedCluster, refuse_if_running
from imload.cluster.target import NodeSpec, Target
from imload.faults.toxiproxy import ToxiproxyAPI, ToxiproxyError

__all__ = ["ClusterError", "LocalCluster", "Part"]


class LocalCluster(SupervisedCluster):
    """A reference cluster on this machine, in ``directory``. Its parts: ``redis`` (the
    store: a restart brings it back from its append-only file), ``toxiproxy``, ``lbs`` and
    the nodes; process control (stop, kill, restart, status) and cluster.json are
    :class:`~imload.cluster.supervised.SupervisedCluster`'s."""

    load_hint = " (start one with imload cluster up --dir {dir})"

    def __init__(self, directory: Path, nodes: int = 3, secret: str | None = None,
                 bug: str | None = None, host: str = "127.0.0.1",
                 ready_timeout_s: float = 20.0, stop_grace_s: float = 5.0, *,
                 tls: bool = False, node_args: Sequence[str] = (),
                 appendfsync: str = "always", store_proxy: bool = True,
                 per_node_args: dict[str, Sequence[str]] | None = None,
                 profiles: Sequence[str] = ()) -> None:
        if nodes < 1:
            raise ClusterError(f"a cluster needs at least one node, got {nodes}")
        super().__init__(directory, secret, host, ready_timeout_s, stop_grace_s)
        self.nodes = nodes
        self.bug = bug
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

    # -- paths and names -------------------------------------------------------------------

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
    def ca_path(self) -> Path | None:
        """The CA clients must trust (``tls=True``), else None."""
        return self.directory / "ca.pem" if self.tls else None

    @property
    def lbs_url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.parts['lbs'].port}"

    # -- start ----------------------------------------------------------------------------

    def start(self) -> Target:
        """Start every part, wait until each is ready, write target.toml and cluster.json."""
        refuse_if_running(self.directory)
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
                "--appendfsync", self.appendfsync, "--save", "", "--daemonize", "no",
                # off loopback (a netem drill's veth address) Redis refuses clients unless told
                *(["--protected-mode", "no"] if self.host != "127.0.0.1" else [])],
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
        with self._stopped_on_failure():
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
            return self._write_target()

    def target(self) -> Target:
        """The target file's content for this cluster."""
        nodes = [NodeSpec(
            name=name, url=self.node_url(name), proxy=name, **self._commands(name),
            extra={"direct_url": self.node_url(name, direct=True),
                   **({"profiles": {p: {"url": self._profile_url(name, p),
                                        "proxy": f"{name}.{p}"} for p in self.profiles}}
                      if self.profiles else {})},
        ) for name in self.node_names]
        store = NodeSpec(name="store", url="", proxy="store" if self.store_proxy else None,
                         **self._commands("store", "redis"))
        return Target(name="local", secret=self.secret, nodes=nodes,
                      toxiproxy_api=self.toxiproxy_api, lbs=self.lbs_url, ca=self.ca_path,
                      extra={"kind": "local", "redis": self.redis_url},
                      path=self.target_path, store=store)

    def _env(self, part: Part) -> dict[str, str]:
        env = super()._env(part)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def _probe(self, part: Part) -> Callable[[], bool]:
        scheme = "https" if self.tls else "http"
        ca = str(self.ca_path) if self.ca_path else None
        if part.kind == "redis":
            return lambda: redis_answers(self.host, part.port)
        if part.kind in ("node", "lbs"):
            return lambda: http_ok(f"{scheme}://{self.host}:{part.port}/healthz", ca)
        return super()._probe(part)

    # -- Toxiproxy -------------------------------------------------------------------------

    def _profile_url(self, node: str, profile: str) -> str:
        return self._ws_url(self.profile_ports[f"{node}.{profile}"])

    def _node_proxies(self, part: Part) -> list[tuple[str, str, str]]:
        upstream = f"{self.host}:{part.port}"  # per-user network profiles: own proxies
        return super()._node_proxies(part) + [
            (f"{part.name}.{p}", f"{self.host}:{self.profile_ports[f'{part.name}.{p}']}",
             upstream) for p in self.profiles]

    def _create_proxies(self) -> None:
        if self.store_proxy_port is not None:
            try:
                ToxiproxyAPI(self.toxiproxy_api).create_proxy(
                    "store", f"{self.host}:{self.store_proxy_port}",
                    f"{self.host}:{self.parts['redis'].port}")
            except ToxiproxyError as e:
                raise ClusterError(f"toxiproxy: could not create the store proxy: {e}") from None
        super()._create_proxies()

    # -- cluster.json ---------------------------------------------------------------------

    def _state(self) -> dict[str, Any]:
        return {"nodes": self.nodes, "secret": self.secret, "bug": self.bug, "tls": self.tls,
                "node_args": self.node_args, "appendfsync": self.appendfsync,
                "store_proxy_port": self.store_proxy_port,
                "per_node_args": self.per_node_args, "profiles": self.profiles,
                "profile_ports": self.profile_ports}

    @classmethod
    def _from_state(cls, state: dict[str, Any]) -> LocalCluster:
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
        return cluster
