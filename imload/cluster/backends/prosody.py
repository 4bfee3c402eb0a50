"""A private Prosody XMPP server behind Toxiproxy: ``imload cluster up --backend prosody``.

``ProsodyCluster(dir).start()`` writes ``DIR/prosody/prosody.cfg.lua``
(:mod:`imload.cluster.backends.prosody_config`), starts ``toxiproxy-server`` and one
Prosody (node ``n1``, ``prosody --config FILE -F``: in the foreground, as a child of the
:class:`~imload.cluster.processes.Supervisor`, output in ``DIR/logs/n1.log``), waits until
Prosody's websocket endpoint answers, creates the Toxiproxy proxy ``n1`` in front of it and
writes

- ``DIR/target.toml``: ``protocol = "xmpp"``, an ``xmpp`` table (domain, register, muc,
  smacks), the node's URL ``ws://127.0.0.1:<proxy port>/xmpp-websocket`` and its
  kill/restart/pause/resume commands; ``secret`` is a random hex string clients derive
  account passwords from;
- ``DIR/cluster.json`` with ``"backend": "prosody"``, so ``imload cluster down/status/
  kill/restart --dir DIR`` find this class (:func:`imload.cluster.backends.load_cluster`).

Accounts, rosters and archives live in ``DIR/prosody/data``: emptied when a cluster starts,
kept across ``restart_node`` (the archive survives a crash) and ``stop``. When ``prosody``
is missing and we are root, ``scripts/install-package.sh prosody`` installs it without
starting the system service; otherwise the error says what to run.
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

from imload.cluster.backends.prosody_config import ProsodySettings, prosody_config
from imload.cluster.processes import (
    REPO,
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
from reference_server.tls import make_certificates

STATE_FILE = "cluster.json"
TARGET_FILE = "target.toml"
STATE_VERSION = 1
BACKEND = "prosody"
NODE = "n1"
WEBSOCKET_PATH = "/xmpp-websocket"
C2S_PROXY = "-c2s"  # the Toxiproxy proxy in front of a node's c2s port: "n1-c2s"
# a target file per protocol the cluster speaks (target.toml is the cluster's own choice)
PROTOCOL_FILES = {"xmpp": "target-xmpp.toml", "xmpp-tcp": "target-xmpp-tcp.toml"}
INSTALL_SCRIPT = REPO / "scripts" / "install-package.sh"


def find_prosody(install: bool = True) -> str:
    """The ``prosody`` executable; installs the Debian package first when it is missing
    and we are root (``install``), else ClusterError saying how to install it."""
    found = shutil.which("prosody")
    if found:
        return found
    how = (f"install it: sudo {INSTALL_SCRIPT} prosody (or: sudo apt-get install prosody), "
           f"or run scripts/setup.sh as root")
    if not install or os.geteuid() != 0 or not INSTALL_SCRIPT.is_file():
        raise ClusterError(f"prosody not found on PATH: {how}")
    done = subprocess.run(["bash", str(INSTALL_SCRIPT), "prosody"], capture_output=True,
                          text=True, check=False)
    found = shutil.which("prosody")
    if done.returncode != 0 or not found:
        raise ClusterError(f"could not install prosody with {INSTALL_SCRIPT} "
                           f"(exit {done.returncode}):\n{done.stdout}{done.stderr}\n{how}")
    return found


class ProsodyCluster:
    """One private Prosody server (node ``n1``) and Toxiproxy in ``directory``."""

    backend = BACKEND

    def __init__(self, directory: Path, secret: str | None = None, *, nodes: int = 1,
                 domain: str = "localhost", smacks: bool = True, host: str = "127.0.0.1",
                 ready_timeout_s: float = 20.0, stop_grace_s: float = 5.0,
                 protocol: str = "xmpp") -> None:
        if nodes != 1:
            raise ClusterError(f"the prosody backend runs exactly one node, got nodes={nodes}")
        if protocol not in PROTOCOL_FILES:
            raise ClusterError(f"the prosody backend speaks {', '.join(PROTOCOL_FILES)}; "
                               f"got protocol={protocol!r}")
        self.protocol = protocol
        self.directory = Path(directory).resolve()
        self.secret = secret or secrets.token_hex(32)
        self.domain = domain
        self.smacks = smacks
        self.host = host
        self.ready_timeout_s = ready_timeout_s
        self.stop_grace_s = stop_grace_s
        self.c2s_port: int | None = None
        self.c2s_proxy_port: int | None = None  # Toxiproxy in front of c2s (xmpp-tcp)
        self.parts: dict[str, Part] = {}
        self._sup = Supervisor()

    # -- paths and names -------------------------------------------------------------------

    @property
    def node_names(self) -> list[str]:
        return [NODE]

    @property
    def state_path(self) -> Path:
        return self.directory / STATE_FILE

    @property
    def target_path(self) -> Path:
        return self.directory / TARGET_FILE

    @property
    def prosody_dir(self) -> Path:
        return self.directory / "prosody"

    @property
    def toxiproxy_api(self) -> str:
        return f"http://{self.host}:{self.parts['toxiproxy'].port}"

    def settings(self, http_port: int, c2s_port: int) -> ProsodySettings:
        """The config of node ``n1`` on these ports."""
        tls = self.prosody_dir / "tls"
        return ProsodySettings(directory=self.prosody_dir, c2s_port=c2s_port,
                               http_port=http_port, domain=self.domain, smacks=self.smacks,
                               run_as_root=os.geteuid() == 0, host=self.host,
                               tls=(tls / "server.pem", tls / "server.key"))

    def node_url(self, name: str, direct: bool = False) -> str:
        """The websocket URL clients dial for node ``name`` (its proxy), or Prosody itself."""
        part = self._node(name)
        port = part.port if direct or part.proxy_port is None else part.proxy_port
        return f"ws://{self.host}:{port}{WEBSOCKET_PATH}"

    def _node(self, name: str) -> Part:
        part = self.parts.get(name)
        if part is None or part.kind != "node":
            raise ClusterError(f"no node {name!r} in the prosody cluster at {self.directory}; "
                               f"nodes: {', '.join(self.node_names)}")
        return part

    def _part(self, name: str) -> Part:
        part = self.parts.get(name)
        if part is None:
            raise ClusterError(f"no part {name!r} in the prosody cluster at {self.directory}; "
                               f"parts: {', '.join(self.parts)} (no separate store)")
        return part

    # -- start ----------------------------------------------------------------------------

    def start(self) -> Target:
        """Write the config, start Toxiproxy and Prosody, wait until both answer, create the
        proxy, write target.toml and cluster.json. On any failure nothing is left running."""
        from imload.cluster.backends import refuse_if_running

        refuse_if_running(self.directory)
        prosody_bin = find_prosody()
        toxiproxy_bin = find_binary("toxiproxy-server")
        # A new cluster starts with no accounts and an empty archive.
        shutil.rmtree(self.prosody_dir / "data", ignore_errors=True)
        http_port, c2s_port, proxy_port, api_port, c2s_proxy = free_ports(self.host, 5)
        settings = self.settings(http_port, c2s_port)
        for folder in (self.directory / "logs", settings.data_path, settings.certs_path):
            folder.mkdir(parents=True, exist_ok=True)
        ca, _, _ = make_certificates(self.prosody_dir / "tls", (self.host, self.domain))
        shutil.copyfile(ca, self.directory / "ca.pem")  # what xmpp-tcp clients trust
        self.c2s_proxy_port = c2s_proxy
        settings.config_path.write_text(prosody_config(settings), encoding="utf-8")
        self.c2s_port = c2s_port
        logs = self.directory / "logs"
        self.parts = {
            "toxiproxy": Part("toxiproxy", "toxiproxy", api_port, [
                toxiproxy_bin, "-host", self.host, "-port", str(api_port)],
                str(logs / "toxiproxy.log")),
            NODE: Part(NODE, "node", http_port, [
                prosody_bin, "--config", str(settings.config_path), "-F"],
                str(logs / f"{NODE}.log"), proxy_port=proxy_port),
        }
        try:
            self._spawn(self.parts["toxiproxy"])
            self._spawn(self.parts[NODE])
            self._wait_ready(self.parts["toxiproxy"])
            self._create_proxies()
            self._wait_ready(self.parts[NODE])
            for protocol, name in PROTOCOL_FILES.items():
                write_target(self.target(protocol), self.directory / name)
            target = self.target()
            write_target(target, self.target_path)
            self._save()
        except BaseException:
            self.stop()
            raise
        return target

    def target(self, protocol: str | None = None) -> Target:
        """The target file's content for this cluster, in ``protocol`` (xmpp: WebSocket;
        xmpp-tcp: TCP with STARTTLS; default: the cluster's)."""
        protocol = protocol or self.protocol
        tcp = protocol == "xmpp-tcp"
        py = shlex.quote(sys.executable)
        d = shlex.quote(str(self.directory))

        def signal_cmd(sig: str, part: str) -> str:
            return f"kill -s {sig} $(cat {d}/pids/{part}.pid)"

        nodes = [NodeSpec(
            name=name, url=(f"tcp://{self.host}:{self.c2s_proxy_port}" if tcp
                            else self.node_url(name)),
            proxy=f"{name}{C2S_PROXY}" if tcp else name,
            kill=signal_cmd("KILL", name),
            restart=f"{py} -m imload cluster restart --dir {d} --node {name}",
            pause=signal_cmd("STOP", name), resume=signal_cmd("CONT", name),
            extra={"direct_url": self.node_url(name, direct=True),
                   "c2s": f"{self.host}:{self.c2s_port}"},
        ) for name in self.node_names]
        xmpp = {"domain": self.domain, "register": True, "muc": f"conference.{self.domain}",
                "smacks": self.smacks}
        target = Target(name=BACKEND, secret=self.secret, nodes=nodes,
                        toxiproxy_api=self.toxiproxy_api,
                        ca=self.directory / "ca.pem" if tcp else None,
                        extra={"kind": BACKEND, "protocol": protocol, protocol: xmpp},
                        path=self.target_path)
        # Prosody's archive ids are opaque strings; a user's inbox is numbered by the client
        target.numbering = {"seq": "opaque", "useq": "contiguous"}
        return target

    def _spawn(self, part: Part) -> None:
        env = dict(os.environ)
        env.setdefault("LOG_LEVEL", "info")  # toxiproxy: no line per API request
        self._sup.spawn(part, self.directory, env, [shlex.quote(a) for a in part.cmd])
        self._save()

    def _wait_ready(self, part: Part) -> None:
        if part.kind == "toxiproxy":
            url = f"http://{self.host}:{part.port}/proxies"
        else:  # Prosody's websocket endpoint answers a plain GET with 200 and a page
            url = f"http://{self.host}:{part.port}{WEBSOCKET_PATH}"
        self._sup.wait_ready(part, lambda: http_ok(url), self.ready_timeout_s)

    def _create_proxies(self) -> None:
        api = ToxiproxyAPI(self.toxiproxy_api)
        for part in self.parts.values():
            if part.kind != "node":
                continue
            try:
                api.create_proxy(part.name, f"{self.host}:{part.proxy_port}",
                                 f"{self.host}:{part.port}")
                api.create_proxy(f"{part.name}{C2S_PROXY}",
                                 f"{self.host}:{self.c2s_proxy_port}",
                                 f"{self.host}:{self.c2s_port}")
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
        """Stop Prosody, then Toxiproxy; idempotent; keeps the data and the logs."""
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
        """Start node ``name`` again from the same config (same ports, same data)."""
        self.restart_part(self._node(name).name)

    def kill_part(self, name: str) -> None:
        """SIGKILL ``n1`` or ``toxiproxy``."""
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
        """Each part: kind, pid, alive, port (and proxy_port for the node), log."""
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

    def any_alive(self) -> bool:
        """True when some part recorded for this cluster still runs."""
        return any(self._sup.alive(p) for p in self.parts.values())

    # -- cluster.json ---------------------------------------------------------------------

    def _save(self) -> None:
        state = {
            "version": STATE_VERSION, "backend": BACKEND, "directory": str(self.directory),
            "host": self.host, "domain": self.domain, "smacks": self.smacks,
            "secret": self.secret, "c2s_port": self.c2s_port, "protocol": self.protocol,
            "c2s_proxy_port": self.c2s_proxy_port,
            "config": str(self.prosody_dir / "prosody.cfg.lua"),
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
    def load(cls, directory: Path) -> ProsodyCluster:
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
                raise ClusterError(f"{path}: not a prosody cluster (version "
                                   f"{state.get('version')!r}, backend {state.get('backend')!r})")
            cluster = cls(Path(state["directory"]), secret=state["secret"],
                          domain=state["domain"], smacks=bool(state["smacks"]),
                          host=state["host"], protocol=state.get("protocol", "xmpp"))
            cluster.c2s_port = state.get("c2s_port")
            cluster.c2s_proxy_port = state.get("c2s_proxy_port")
            cluster.parts = {name: Part(**p) for name, p in state["parts"].items()}
        except (KeyError, TypeError, ValueError) as e:
            raise ClusterError(f"{path}: not a cluster state file: {e}") from None
        return cluster
