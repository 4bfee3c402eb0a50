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

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from imload.cluster.backends.prosody_config import ProsodySettings, prosody_config
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
    find_or_install,
    free_ports,
    http_ok,
)
from imload.cluster.supervised import SupervisedCluster, refuse_if_running
from imload.cluster.target import Target
from reference_server.tls import make_certificates

BACKEND = "prosody"
NODE = "n1"
WEBSOCKET_PATH = "/xmpp-websocket"


def find_prosody(install: bool = True) -> str:
    """The ``prosody`` executable; installs the Debian package first when it is missing
    and we are root (``install``), else ClusterError saying how to install it."""
    return find_or_install("prosody", lambda: shutil.which("prosody"),
                           "prosody not found on PATH", install)


class ProsodyCluster(SupervisedCluster):
    """One private Prosody server (node ``n1``) and Toxiproxy in ``directory``."""

    backend = BACKEND
    label = "prosody "
    part_hint = " (no separate store)"
    websocket_path = WEBSOCKET_PATH

    def __init__(self, directory: Path, secret: str | None = None, *, nodes: int = 1,
                 domain: str = "localhost", smacks: bool = True, host: str = "127.0.0.1",
                 ready_timeout_s: float = 20.0, stop_grace_s: float = 5.0,
                 protocol: str = "xmpp") -> None:
        if nodes != 1:
            raise ClusterError(f"the prosody backend runs exactly one node, got nodes={nodes}")
        super().__init__(directory, secret, host, ready_timeout_s, stop_grace_s)
        self.protocol = check_protocol(BACKEND, protocol)
        self.domain = domain
        self.smacks = smacks
        self.c2s_port: int | None = None
        self.c2s_proxy_port: int | None = None  # Toxiproxy in front of c2s (xmpp-tcp)

    # -- paths and names -------------------------------------------------------------------

    @property
    def prosody_dir(self) -> Path:
        return self.directory / "prosody"

    def settings(self, http_port: int, c2s_port: int) -> ProsodySettings:
        """The config of node ``n1`` on these ports."""
        tls = self.prosody_dir / "tls"
        return ProsodySettings(directory=self.prosody_dir, c2s_port=c2s_port,
                               http_port=http_port, domain=self.domain, smacks=self.smacks,
                               run_as_root=os.geteuid() == 0, host=self.host,
                               tls=(tls / "server.pem", tls / "server.key"))

    # -- start ----------------------------------------------------------------------------

    def start(self) -> Target:
        """Write the config, start Toxiproxy and Prosody, wait until both answer, create the
        proxy, write target.toml and cluster.json. On any failure nothing is left running."""
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
            "toxiproxy": self._toxiproxy_part(toxiproxy_bin, api_port),
            NODE: Part(NODE, "node", http_port, [
                prosody_bin, "--config", str(settings.config_path), "-F"],
                str(logs / f"{NODE}.log"), proxy_port=proxy_port),
        }
        with self._stopped_on_failure():
            self._start_toxiproxy_and(self.parts[NODE])
            write_protocol_targets(self)
            return self._write_target()

    def target(self, protocol: str | None = None) -> Target:
        """The target file's content for this cluster, in ``protocol`` (xmpp: WebSocket;
        xmpp-tcp: TCP with STARTTLS; default: the cluster's)."""
        return xmpp_target(self, protocol or self.protocol, lambda name: self.c2s_proxy_port,
                           lambda name: self.c2s_port)

    def _probe(self, part: Part) -> Callable[[], bool]:
        if part.kind != "node":
            return super()._probe(part)
        url = f"http://{self.host}:{part.port}{WEBSOCKET_PATH}"  # answers a GET with a page
        return lambda: http_ok(url)

    def _node_proxies(self, part: Part) -> list[tuple[str, str, str]]:
        return super()._node_proxies(part) + [(f"{part.name}{C2S_PROXY}",
                                               f"{self.host}:{self.c2s_proxy_port}",
                                               f"{self.host}:{self.c2s_port}")]

    # -- cluster.json ---------------------------------------------------------------------

    def _state(self) -> dict[str, Any]:
        return {"domain": self.domain, "smacks": self.smacks, "secret": self.secret,
                "c2s_port": self.c2s_port, "protocol": self.protocol,
                "c2s_proxy_port": self.c2s_proxy_port,
                "config": str(self.prosody_dir / "prosody.cfg.lua")}

    @classmethod
    def _from_state(cls, state: dict[str, Any]) -> ProsodyCluster:
        cluster = cls(Path(state["directory"]), secret=state["secret"], domain=state["domain"],
                      smacks=bool(state["smacks"]), host=state["host"],
                      protocol=state.get("protocol", "xmpp"))
        cluster.c2s_port = state.get("c2s_port")
        cluster.c2s_proxy_port = state.get("c2s_proxy_port")
        return cluster
