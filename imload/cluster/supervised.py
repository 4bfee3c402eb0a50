"""What every cluster backend does the same way with its processes: a base class.

A backend (:class:`~imload.cluster.local.LocalCluster`, ``ProsodyCluster``,
``EjabberdCluster``) starts its parts (:class:`~imload.cluster.processes.Part`) through a
:class:`~imload.cluster.processes.Supervisor` and records them in ``DIR/cluster.json`` so
another process can load it and stop, kill or restart a part. :class:`SupervisedCluster`
holds what that takes and is the same in every backend:

- ``cluster.json`` (written atomically; ``version``, ``backend`` unless it is the reference
  cluster, ``directory``, ``host``, the backend's own keys from :meth:`_state`,
  ``target``, ``parts``) and ``DIR/pids/<part>.pid``, read by the target's kill/pause
  commands; :meth:`load` reads it back, the backend's keys through :meth:`_from_state`;
- :meth:`status`, :meth:`stop` (nodes first), :meth:`kill_part`/:meth:`restart_part` and
  their node forms, each first taking pids from ``cluster.json`` (:meth:`_refresh`);
- spawning a part (environment from :meth:`_env`), waiting until it answers
  (:meth:`_probe`), one Toxiproxy proxy per node (:meth:`_node_proxies`), node URLs and
  the target's kill/restart/pause/resume commands.

A backend keeps what is its own: its parts and how they start, its probes, its target.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shlex
import sys
from collections.abc import Callable, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any, ClassVar, Self

from imload.cluster.processes import ClusterError, Part, Supervisor, http_ok, tail
from imload.cluster.target import Target, write_target
from imload.faults.toxiproxy import ToxiproxyAPI, ToxiproxyError

STATE_FILE = "cluster.json"
TARGET_FILE = "target.toml"
STATE_VERSION = 1


def refuse_if_running(directory: Path) -> None:
    """ClusterError when a cluster of any backend still has a process running in
    ``DIR``: a part recorded in its cluster.json that is alive (same pid, same start time).
    A folder without a readable cluster.json holds nothing we could have started."""
    try:
        state = json.loads((Path(directory) / STATE_FILE).read_text(encoding="utf-8"))
        parts = [Part(**p) for p in state["parts"].values()]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return
    supervisor = Supervisor()
    if any(supervisor.alive(p) for p in parts):
        raise ClusterError(f"a cluster is already running in {Path(directory).resolve()}: "
                           f"stop it first (imload cluster down --dir {directory})")


def _replace(path: Path, text: str) -> None:
    """Write ``path`` atomically (a temporary file next to it, then a rename)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


class SupervisedCluster:
    """Parts started by a Supervisor in ``directory`` and recorded in cluster.json."""

    backend: ClassVar[str | None] = None  # cluster.json's "backend"; None: the reference one
    label: ClassVar[str] = ""  # in messages: "no node 'x' in the <label>cluster at ..."
    part_hint: ClassVar[str] = ""  # after the list of parts when a part is not found
    load_hint: ClassVar[str] = ""  # after "cluster.json not found"; {dir}: the folder
    websocket_path: ClassVar[str] = "/ws"
    tls: bool = False
    nodes: int = 1

    def __init__(self, directory: Path, secret: str | None, host: str,
                 ready_timeout_s: float, stop_grace_s: float) -> None:
        self.directory = Path(directory).resolve()
        self.secret = secret or secrets.token_hex(32)
        self.host = host
        self.ready_timeout_s = ready_timeout_s
        self.stop_grace_s = stop_grace_s
        self.parts: dict[str, Part] = {}
        self._sup = Supervisor()

    # -- paths, names and URLs ------------------------------------------------------------

    @property
    def node_names(self) -> list[str]:
        return [f"n{i}" for i in range(1, self.nodes + 1)]  # in every backend: n1, n2, ...

    @property
    def state_path(self) -> Path:
        return self.directory / STATE_FILE

    @property
    def target_path(self) -> Path:
        return self.directory / TARGET_FILE

    @property
    def toxiproxy_api(self) -> str:
        return f"http://{self.host}:{self.parts['toxiproxy'].port}"

    def _ws_url(self, port: int) -> str:
        return f"{'wss' if self.tls else 'ws'}://{self.host}:{port}{self.websocket_path}"

    def node_url(self, name: str, direct: bool = False) -> str:
        """The websocket URL clients dial for node ``name`` (its proxy), or the node itself."""
        part = self._node(name)
        return self._ws_url(part.port if direct or part.proxy_port is None else part.proxy_port)

    def _node(self, name: str) -> Part:
        return self._part(name, kind="node")

    def _part(self, name: str, kind: str | None = None) -> Part:
        part = self.parts.get(name)
        if part is None or kind not in (None, part.kind):
            what = kind or "part"
            names = [n for n, p in self.parts.items() if kind in (None, p.kind)]
            raise ClusterError(f"no {what} {name!r} in the {self.label}cluster at "
                               f"{self.directory}; {what}s: {', '.join(names)}"
                               f"{'' if kind else self.part_hint}")
        return part

    def _commands(self, name: str, part: str | None = None) -> dict[str, str]:
        """A target node's kill/pause/resume (a shell builtin on the pid file of ``part``,
        default ``name``: milliseconds, so faults start on time) and restart commands."""
        py, d = shlex.quote(sys.executable), shlex.quote(str(self.directory))
        pid = f"$(cat {d}/pids/{part or name}.pid)"
        return {"kill": f"kill -s KILL {pid}", "pause": f"kill -s STOP {pid}",
                "resume": f"kill -s CONT {pid}",
                "restart": f"{py} -m imload cluster restart --dir {d} --node {name}"}

    # -- starting parts -------------------------------------------------------------------

    def target(self) -> Target:
        raise NotImplementedError

    @contextlib.contextmanager
    def _stopped_on_failure(self) -> Iterator[None]:
        """Around starting the parts: on any failure, stop what was started and re-raise."""
        try:
            yield
        except BaseException:
            self.stop()
            raise

    def _write_target(self) -> Target:
        """Write target.toml and cluster.json once every part answers; return the target."""
        target = self.target()
        write_target(target, self.target_path)
        self._save()
        return target

    def _toxiproxy_part(self, binary: str, api_port: int) -> Part:
        """The Toxiproxy server every backend puts in front of its nodes."""
        return Part("toxiproxy", "toxiproxy", api_port,
                    [binary, "-host", self.host, "-port", str(api_port)],
                    str(self.directory / "logs" / "toxiproxy.log"))

    def _start_toxiproxy_and(self, node: Part) -> None:
        """Start Toxiproxy and one ``node`` side by side, then the node's proxies once the
        API answers, and wait for the node (callers run it in ``_stopped_on_failure``)."""
        self._spawn(self.parts["toxiproxy"])
        self._spawn(node)
        self._wait_ready(self.parts["toxiproxy"])
        self._create_proxies()
        self._wait_ready(node)

    def _env(self, part: Part) -> dict[str, str]:
        """The environment ``part`` starts with."""
        env = dict(os.environ)
        env.setdefault("LOG_LEVEL", "info")  # toxiproxy: no line per API request
        return env

    def _spawn(self, part: Part) -> None:
        shown = [shlex.quote("***" if a == self.secret else a) for a in part.cmd]
        self._sup.spawn(part, self.directory, self._env(part), shown)
        self._save()

    def _probe(self, part: Part) -> Callable[[], bool]:
        """True once ``part`` answers; here Toxiproxy's API, a backend adds its kinds."""
        url = f"http://{self.host}:{part.port}/proxies"
        return lambda: http_ok(url)

    def _wait_ready(self, part: Part) -> None:
        self._sup.wait_ready(part, self._probe(part), self.ready_timeout_s)

    def _alive(self, part: Part) -> bool:
        return self._sup.alive(part)

    def _node_proxies(self, part: Part) -> list[tuple[str, str, str]]:
        """The Toxiproxy proxies of node ``part``: (name, listen, upstream)."""
        return [(part.name, f"{self.host}:{part.proxy_port}", f"{self.host}:{part.port}")]

    def _create_proxies(self) -> None:
        api = ToxiproxyAPI(self.toxiproxy_api)
        for part in self.parts.values():
            if part.kind != "node":
                continue
            try:
                for name, listen, upstream in self._node_proxies(part):
                    api.create_proxy(name, listen, upstream)
            except ToxiproxyError as e:
                raise ClusterError(f"toxiproxy: could not create proxy {part.name}: {e}\n"
                                   f"{tail(self.parts['toxiproxy'].log)}") from None

    # -- process control ------------------------------------------------------------------

    def _refresh(self) -> None:
        """Take pids from cluster.json: another process may have killed or restarted a part."""
        try:
            recorded = json.loads(self.state_path.read_text(encoding="utf-8"))["parts"]
        except (OSError, ValueError, KeyError, TypeError):
            return
        for name, part in self.parts.items():
            row = recorded.get(name)
            if isinstance(row, dict) and row.get("pid") != part.pid:
                part.pid, part.start_ticks = row.get("pid"), row.get("start_ticks")

    def stop(self) -> None:
        """Stop the nodes, then every other part (SIGTERM, SIGKILL after ``stop_grace_s``);
        idempotent; keeps the logs and the data."""
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
        """Start node ``name`` again on the same ports with the same data."""
        self.restart_part(self._node(name).name)

    def kill_part(self, name: str) -> None:
        """SIGKILL any part (with the children of its session) and wait until it is gone."""
        self._refresh()
        self._sup.kill(self._part(name))
        self._save()

    def restart_part(self, name: str) -> None:
        """Start a part again with the same command line and port; wait until it answers.
        Toxiproxy comes back without proxies, so restarting it creates them again."""
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

    def any_alive(self) -> bool:
        """True when some part recorded for this cluster still runs."""
        return any(self._alive(p) for p in self.parts.values())

    # -- cluster.json ---------------------------------------------------------------------

    def _state(self) -> dict[str, Any]:
        """The backend's own keys of cluster.json (between ``host`` and ``target``)."""
        raise NotImplementedError

    @classmethod
    def _from_state(cls, state: dict[str, Any]) -> Self:
        """The cluster described by a cluster.json, without its parts."""
        raise NotImplementedError

    def _save(self) -> None:
        """Write cluster.json and ``pids/<part>.pid`` (for the target's kill/pause commands)."""
        state = {"version": STATE_VERSION, **({"backend": self.backend} if self.backend else {}),
                 "directory": str(self.directory), "host": self.host, **self._state(),
                 "target": str(self.target_path),
                 "parts": {name: asdict(p) for name, p in self.parts.items()}}
        _replace(self.state_path, json.dumps(state, indent=2) + "\n")
        pids = self.directory / "pids"
        pids.mkdir(exist_ok=True)
        for name, p in self.parts.items():
            _replace(pids / f"{name}.pid", "" if p.pid is None else f"{p.pid}\n")

    @classmethod
    def load(cls, directory: Path) -> Self:
        """The cluster recorded in ``DIR/cluster.json`` (for down/status/kill/restart)."""
        path = Path(directory).resolve() / STATE_FILE
        try:
            state = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ClusterError(f"no cluster in {path.parent}: {STATE_FILE} not found"
                               f"{cls.load_hint.format(dir=path.parent)}") from None
        except (OSError, ValueError) as e:
            raise ClusterError(f"{path}: unreadable: {e}") from None
        try:
            version, backend = state.get("version"), state.get("backend")
            if cls.backend is None and version != STATE_VERSION:
                raise ClusterError(f"{path}: version {version!r}, expected {STATE_VERSION}")
            if cls.backend is not None and (version, backend) != (STATE_VERSION, cls.backend):
                article = "an" if cls.backend[0] in "aeiou" else "a"
                raise ClusterError(f"{path}: not {article} {cls.backend} cluster (version "
                                   f"{version!r}, backend {backend!r})")
            cluster = cls._from_state(state)
            cluster.parts = {name: Part(**p) for name, p in state["parts"].items()}
        except (KeyError, TypeError, ValueError) as e:
            raise ClusterError(f"{path}: not a cluster state file: {e}") from None
        return cluster
