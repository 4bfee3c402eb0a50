"""Cluster backends imload can start on this machine: a registry from name to class.

- ``reference``: :class:`~imload.cluster.local.LocalCluster` (Redis, Toxiproxy, reference
  nodes and an LBS);
- ``prosody``: :class:`~imload.cluster.backends.prosody.ProsodyCluster` (a private Prosody
  XMPP server behind Toxiproxy);
- ``ejabberd``: :class:`~imload.cluster.backends.ejabberd.EjabberdCluster` (two clustered
  ejabberd nodes, each behind its own Toxiproxy proxy);
- ``mosquitto``: :class:`~imload.cluster.backends.mosquitto.MosquittoCluster` (a private
  Mosquitto MQTT broker behind Toxiproxy).

Every backend writes ``DIR/cluster.json``; a ``"backend"`` key names its class (a file
without one is the reference cluster's), so :func:`load_cluster` gives ``imload cluster
down/status/kill/restart --dir DIR`` the right class without knowing any backend.
:func:`new_cluster` builds one from options the caller was given and says which
options a backend does not take. To add a backend: one module with a class that has
the methods of :class:`Cluster`, and one line in ``BACKENDS``.
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any, Protocol

from imload.cluster.backends.ejabberd import EjabberdCluster
from imload.cluster.backends.mosquitto import MosquittoCluster
from imload.cluster.backends.prosody import ProsodyCluster
from imload.cluster.local import LocalCluster
from imload.cluster.processes import ClusterError
from imload.cluster.supervised import refuse_if_running
from imload.cluster.target import Target

STATE_FILE = "cluster.json"
DEFAULT_BACKEND = "reference"


class Cluster(Protocol):
    """What ``imload cluster`` and drills need from a backend."""

    def start(self) -> Target: ...
    def stop(self) -> None: ...
    def status(self) -> dict[str, dict[str, Any]]: ...
    def kill_node(self, name: str) -> None: ...
    def restart_node(self, name: str) -> None: ...
    def kill_part(self, name: str) -> None: ...
    def restart_part(self, name: str) -> None: ...


BACKENDS: dict[str, type[Any]] = {
    "reference": LocalCluster,
    "prosody": ProsodyCluster,
    "ejabberd": EjabberdCluster,
    "mosquitto": MosquittoCluster,
}


def backend_class(name: str) -> type[Any]:
    """The class of backend ``name``; ClusterError naming the known ones otherwise."""
    try:
        return BACKENDS[name]
    except KeyError:
        raise ClusterError(f"unknown cluster backend {name!r}; known: "
                           f"{', '.join(BACKENDS)}") from None


def recorded_backend(directory: Path) -> str | None:
    """The backend named in ``DIR/cluster.json`` (``reference`` when the file names none),
    or None when there is no readable state file."""
    try:
        state = json.loads((Path(directory) / STATE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(state, dict):
        return None
    backend = state.get("backend", DEFAULT_BACKEND)
    return backend if isinstance(backend, str) else None


def load_cluster(directory: Path) -> Cluster:
    """The cluster recorded in ``DIR/cluster.json``, as an instance of its backend's class."""
    backend = recorded_backend(directory) or DEFAULT_BACKEND  # its load() explains what is wrong
    cluster: Cluster = backend_class(backend).load(Path(directory))
    return cluster


def new_cluster(backend: str, directory: Path, **options: Any) -> Cluster:
    """A not yet started cluster of ``backend`` in ``directory``. ``options`` are keyword
    arguments of its class; one it does not take is a ClusterError naming it."""
    cls = backend_class(backend)
    accepted = inspect.signature(cls.__init__).parameters
    unknown = sorted(k for k in options if k not in accepted)
    if unknown:
        raise ClusterError(f"the {backend} backend does not take "
                           f"{', '.join(k.replace('_', '-') for k in unknown)}")
    refuse_if_running(directory)
    cluster: Cluster = cls(Path(directory), **options)
    return cluster


__all__ = ["BACKENDS", "Cluster", "EjabberdCluster", "LocalCluster", "MosquittoCluster",
           "ProsodyCluster", "backend_class", "load_cluster", "new_cluster", "recorded_backend",
           "refuse_if_running"]
