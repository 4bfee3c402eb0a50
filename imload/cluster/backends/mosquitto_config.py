"""The config of a private Mosquitto 2.0 broker: pure functions, no I/O.

``mosquitto_config(MosquittoSettings(...))`` returns the text of ``mosquitto.conf`` for
one broker that lives entirely inside a cluster directory: pid file, persistence
database and the dynamic security plugin's ``dynsec.json`` under it, one plain TCP MQTT
listener on 127.0.0.1 (Debian's 2.0.11 build has no WebSocket listener), on a port the
caller chose. Nothing system-wide (``/etc/mosquitto``, ``/var/lib/mosquitto``, the
system service) is read or touched. ``open_default_acl(doc)`` is the ``dynsec.json``
that ``mosquitto_ctrl dynsec init`` wrote, with every client allowed the topics.

The options, checked against Mosquitto 2.0.11 (``man mosquitto.conf`` and a real broker):

- ``log_dest stderr``, not ``stdout``: Mosquitto writes its log with stdio, and stdout to
  a file (the supervisor's ``DIR/logs/n1.log``) is block-buffered, so lines would show
  only every 4 KiB and the last ones would be lost at a SIGKILL; stderr is unbuffered
  and goes to the same log.
- ``user root`` only when started as root (CI): Mosquitto started as root otherwise
  switches to user ``mosquitto``, which may not enter the cluster directory (pytest's
  temporary folders are mode 0700) nor write the data folder and ``dynsec.json`` that
  root created. Chowning them would still leave the folders above; keeping root keeps
  the broker's files the caller's.
- ``autosave_interval``: in 2.0.11 a save happens when ``last save + interval < now``
  in whole seconds, so ``1`` saves every 2 s (observed); ``0`` never autosaves (only a
  clean exit saves), and leaving it out (``None``) is Mosquitto's 1800 s.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ADMIN_USER = "imload-admin"
MAX_QUEUED_MESSAGES = 100_000
# The plugin's defaults for clients without a matching role ACL: all open. Mosquitto
# still refuses $CONTROL/# to them (PUBACK 0x87, checked), so a device cannot
# administer accounts; only imload-admin's role grants it.
OPEN_ACCESS = {"publishClientSend": True, "publishClientReceive": True, "subscribe": True,
               "unsubscribe": True}


@dataclass(frozen=True, slots=True)
class MosquittoSettings:
    """Everything that varies between private Mosquitto brokers."""

    directory: Path  # the broker's own folder: config, data, dynsec.json, pid file
    port: int
    dynsec_plugin: Path  # mosquitto_dynamic_security.so
    host: str = "127.0.0.1"
    autosave_interval_s: int | None = 1  # None: Mosquitto's default (1800 s); 0: never
    autosave_on_changes: bool = False  # True: autosave_interval counts changes, not seconds
    max_queued_messages: int = MAX_QUEUED_MESSAGES
    run_as_root: bool = False
    # a second listener, MQTT over TLS from the first byte: (port, certificate chain, key)
    tls: tuple[int, Path, Path] | None = None

    @property
    def config_path(self) -> Path:
        return self.directory / "mosquitto.conf"

    @property
    def data_path(self) -> Path:
        return self.directory / "data"

    @property
    def pid_path(self) -> Path:
        return self.directory / "mosquitto.pid"

    @property
    def dynsec_path(self) -> Path:
        return self.directory / "dynsec.json"


def check_settings(settings: MosquittoSettings) -> None:
    """ValueError for settings Mosquitto would refuse or imload cannot use."""
    s = settings
    autosave = s.autosave_interval_s
    if autosave is not None and (not isinstance(autosave, int) or isinstance(autosave, bool)
                                 or autosave < 0):
        raise ValueError(f"autosave_interval_s must be None or >= 0, got "
                         f"{s.autosave_interval_s!r}")
    if not isinstance(s.max_queued_messages, int) or s.max_queued_messages < 0:
        raise ValueError(f"max_queued_messages must be >= 0, got {s.max_queued_messages}")
    for name, path in (("directory", s.directory), ("dynsec_plugin", s.dynsec_plugin)):
        if any(c.isspace() for c in str(path)):  # one value per line, no quoting
            raise ValueError(f"{name}: Mosquitto's config cannot hold a path with white "
                             f"space: {str(path)!r}")


def mosquitto_config(settings: MosquittoSettings) -> str:
    """The text of ``mosquitto.conf`` for ``settings``."""
    check_settings(settings)
    s = settings
    lines = [
        "# Written by imload (imload/cluster/backends/mosquitto_config.py); rewritten at",
        "# every `imload cluster up`. A private broker: nothing outside this folder is used.",
        "",
        "# Started in the foreground (mosquitto -c FILE, never -d) as a child of imload's",
        "# supervisor. stderr is unbuffered, so DIR/logs/n1.log has every line at once.",
        f"pid_file {s.pid_path}",
        "log_dest stderr",
        "log_timestamp_format %Y-%m-%dT%H:%M:%S",
    ]
    if s.run_as_root:
        lines += ["# Started as root (CI): stay root, so the broker can reach this folder.",
                  "user root"]
    lines += [
        "",
        "# One plain TCP MQTT listener, loopback only, on a port imload chose.",
        f"listener {s.port} {s.host}",
        "",
        "# Sessions and queued messages are saved in data/ (on autosave and on a clean",
        "# exit); persistent_client_expiration is not set, so sessions never expire.",
        "persistence true",
        f"persistence_location {s.data_path}/",
    ]
    if s.autosave_interval_s is None:
        lines.append("# autosave_interval: Mosquitto's default (1800 s)")
    else:
        lines.append(f"autosave_interval {s.autosave_interval_s}")
    lines += [
        f"autosave_on_changes {'true' if s.autosave_on_changes else 'false'}",
        "",
        "# A chat broker answers small packets at once: no Nagle delay (with the",
        "# client's delayed ACK it adds ~40 ms to a PUBACK).",
        "set_tcp_nodelay true",
        "",
        "# A device that is away for a while under load may have many messages waiting.",
        "# max_inflight_messages: Mosquitto's default (20).",
        f"max_queued_messages {s.max_queued_messages}",
        "",
        "# Accounts: the dynamic security plugin; nobody gets in without one.",
        "allow_anonymous false",
        f"plugin {s.dynsec_plugin}",
        f"plugin_opt_config_file {s.dynsec_path}",
        "",
    ]
    if s.tls is not None:
        port, cert, key = s.tls
        lines += [
            "# MQTT over TLS (as on 8883), loopback only, with a throwaway CA's certificate",
            "# for 127.0.0.1 and localhost (DIR/ca.pem); certfile and keyfile belong to the",
            "# listener above them.",
            f"listener {port} {s.host}",
            f"certfile {cert}",
            f"keyfile {key}",
            "",
        ]
    return "\n".join(lines)


def open_default_acl(doc: dict[str, Any]) -> dict[str, Any]:
    """``doc`` (a ``dynsec.json``) with ``defaultACLAccess`` allowing every client to
    publish, receive, subscribe and unsubscribe: a client made by ``createClient`` with
    no role can use ``im/#`` at once."""
    out = copy.deepcopy(doc)
    out["defaultACLAccess"] = dict(OPEN_ACCESS)
    return out
