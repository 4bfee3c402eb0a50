"""The YAML config of one node of a private ejabberd 23.01 cluster, the command lines that
run it, and where the installed ejabberd is.

``ejabberd_config(EjabberdSettings(...))`` returns the text of ``ejabberd.yml`` for one
ejabberd node that lives entirely inside a cluster directory, listening on 127.0.0.1
only, on ports chosen by the caller, with no s2s (STARTTLS on c2s when given a
certificate). ``node_command`` and
``node_env`` give the ``erl`` command line and environment that start it in the
foreground, the way ``ejabberdctl foreground`` would but without its system-wide parts
(``/etc/ejabberd``, ``/var/lib/ejabberd``, ``su ejabberd``). Nothing system-wide is read.
These are pure functions; only :func:`find_ejabberd` (which reads the installed
``ejabberdctl`` script, and installs the package when it is missing and we are root) and
:func:`epmd_answers` (a probe) do I/O.

Option names were checked against ejabberd 23.01 itself (it refuses to start on an
unknown option or module option):

- TLS: with a certificate (``EjabberdSettings.tls``), the top-level ``certfiles`` lists
  it (``ejabberd_pkix`` picks it for the domains it names; it warns "Invalid certificate
  ... signed by unknown CA", checking it against the system's CAs, and uses it anyway),
  and the c2s listener has ``starttls: true``, ``starttls_required: false``
  (``ejabberd_c2s:listen_options``): STARTTLS offered, not required. The HTTP listener
  has no ``tls``: the websocket stays plain. Without a certificate, no ``certfiles`` and
  no STARTTLS. SASL PLAIN and SCRAM-SHA-1 are offered in the clear too (acceptable on
  loopback only); ``disable_sasl_mechanisms`` drops DIGEST-MD5 and X-OAUTH2.
- registration: ``mod_register`` with ``access`` and ``ip_access`` the predefined rule
  ``all``, and the global ``registration_timeout: infinity`` (its default, 600 s, allows
  one registration per IP every 10 minutes: a load test would be refused at once).
- no listener has a ``shaper`` (ejabberd's example config throttles c2s to 3000 B/s);
  ``max_user_sessions`` and ``max_user_offline_messages`` are not set: both unlimited.
- ``auth_use_cache: false`` unless ``auth_cache``: in 23.01, of two registrations of the
  same new account at once (two devices of one user, here one on each node), the one
  that loses the race caches ``{error, exists}`` as the account's password on its node
  (``ejabberd_auth_mnesia:try_register`` answers ``{cache, {error, exists}}``, which
  ``ets_cache:update`` stores). From then on, on that node, every SCRAM login of that user
  crashes its c2s process (``case_clause`` in ``ejabberd_auth:get_password_with_authmodule``)
  and every message routed to the user is dropped ("Failed to route packet", from
  ``db_user_exists``) after its sender got the ack. Seen in the xmpp-default drill.
- storage: Mnesia (``auth_method: internal``, ``mod_mam`` ``db_type: mnesia``), on disk in
  the node's spool folder, replicated between the nodes of the cluster.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
from dataclasses import dataclass
from pathlib import Path

from imload.cluster.processes import ClusterError, find_or_install, how_to_install

BASE_MODULES = ("mod_carboncopy", "mod_disco", "mod_mam", "mod_muc", "mod_offline",
                "mod_ping", "mod_register", "mod_roster")
WEBSOCKET_PATH = "/xmpp-websocket"
EJABBERDCTL = "/usr/sbin/ejabberdctl"  # Debian's; not on a non-root user's PATH
# The environment variables of the caller that would change how erl starts: left out.
ERL_VARIABLES = ("ERL_FLAGS", "ERL_AFLAGS", "ERL_ZFLAGS", "ERL_LIBS", "ERL_INETRC",
                 "ERL_EPMD_ADDRESS", "ERL_EPMD_PORT", "ERL_DIST_PORT", "EJABBERD_CONFIG_PATH",
                 "EJABBERD_LOG_PATH", "EJABBERD_PID_PATH", "CONTRIB_MODULES_PATH",
                 "CONTRIB_MODULES_CONF_DIR", "ERL_CRASH_DUMP", "ERL_CRASH_DUMP_BYTES")


@dataclass(frozen=True, slots=True)
class Installation:
    """Where the installed ejabberd's pieces are (read from its ``ejabberdctl`` script)."""

    ejabberdctl: str
    erl: str
    epmd: str
    erl_libs: str  # the folder holding ejabberd-<version>/ and its Erlang dependencies
    version: str | None = None


def script_value(text: str, name: str) -> str | None:
    """The value ``ejabberdctl``'s shell text assigns to ``name`` (``ERL="/usr/bin/erl"``,
    ``ERL_LIBS='/usr/lib/x86_64-linux-gnu'``), or None."""
    m = re.search(rf"^\s*{name}=[\"']?([^\"'\s]+)", text, re.MULTILINE)
    return m.group(1) if m else None


@dataclass(frozen=True, slots=True)
class EjabberdSettings:
    """Everything that varies between the nodes of private ejabberd clusters."""

    directory: Path  # the node's own folder: config, spool (Mnesia) and logs live here
    name: str  # the node's short name: n1, n2 ...; its Erlang node is name@host
    c2s_port: int
    http_port: int
    domain: str = "localhost"
    smacks: bool = True  # False leaves mod_stream_mgmt out: drills that show loss without it
    host: str = "127.0.0.1"
    auth_cache: bool = False  # True: ejabberd's default auth cache (and its 23.01 bug)
    tls: tuple[Path, ...] | None = None  # PEM files (chain, key): STARTTLS on c2s

    @property
    def erlang_node(self) -> str:
        return f"{self.name}@{self.host}"

    @property
    def muc_domain(self) -> str:
        return f"conference.{self.domain}"

    @property
    def config_path(self) -> Path:
        return self.directory / "ejabberd.yml"

    @property
    def spool_path(self) -> Path:
        """Mnesia's folder: the schema (which cluster the node is in), accounts, archives."""
        return self.directory / "spool"

    @property
    def log_path(self) -> Path:
        """ejabberd's own log file; its error.log is written beside it."""
        return self.directory / "log" / "ejabberd.log"


def modules(settings: EjabberdSettings) -> list[str]:
    """The modules loaded: the base ones, plus ``mod_stream_mgmt`` when asked for."""
    return sorted([*BASE_MODULES, *(["mod_stream_mgmt"] if settings.smacks else [])])


def yaml_string(text: str) -> str:
    """``text`` as a double-quoted YAML scalar (a JSON string is one)."""
    return json.dumps(text)


def module_options(settings: EjabberdSettings) -> dict[str, list[str]]:
    """Each module's option lines (YAML, indented under the module), [] for ``{}``."""
    return {
        "mod_mam": ["db_type: mnesia",
                    "default: always  # archive every one-to-one message"],
        "mod_muc": [f"host: {yaml_string(settings.muc_domain)}",
                    "db_type: mnesia",
                    "access_mam: all",
                    "access_create: all",
                    "history_size: 0  # entry sends no history: the archive is read by MAM",
                    "# a group is a room (imload/adapters/xmpp/rooms.py)",
                    "default_room_options:",
                    "  mam: true",
                    "  persistent: true",
                    "  members_only: true",
                    "  anonymous: false"],
        "mod_register": ["access: all  # in-band registration (XEP-0077) open to anyone",
                         "ip_access: all"],
        "mod_stream_mgmt": ["resume_timeout: 300",
                            "# a session that times out: its unacked stanzas are re-routed",
                            "resend_on_timeout: if_offline"],
    }


def ejabberd_config(settings: EjabberdSettings) -> str:
    """The text of ``ejabberd.yml`` for ``settings``."""
    s = settings
    lines = [
        "# Written by imload (imload/cluster/backends/ejabberd_config.py); rewritten at",
        "# every `imload cluster up`. A private node: nothing outside this folder is used.",
        "",
        "hosts:",
        f"  - {yaml_string(s.domain)}",
        "loglevel: info",
        "",
        "# Loopback only, on ports imload chose; no s2s listener and no outgoing s2s. Plain",
        "# streams are acceptable ONLY because every listener is on loopback: a load test's",
        "# clients and Toxiproxy run on this machine.",
    ]
    if s.tls:
        lines += ["# STARTTLS is offered on c2s (not required), with a throwaway CA's certificate",
                  "# for 127.0.0.1 and the domain (DIR/ca.pem); the websocket stays plain.",
                  "certfiles:", *(f"  - {yaml_string(str(f))}" for f in s.tls)]
    lines += [
        "listen:",
        "  -",
        f"    port: {s.c2s_port}",
        f"    ip: {yaml_string(s.host)}",
        "    module: ejabberd_c2s",
        "    access: c2s",
        *(["    starttls: true"] if s.tls else []),
        "    starttls_required: false",
        "    max_stanza_size: 262144",
        "  -",
        f"    port: {s.http_port}",
        f"    ip: {yaml_string(s.host)}",
        "    module: ejabberd_http",
        "    request_handlers:",
        f"      {yaml_string(WEBSOCKET_PATH)}: ejabberd_http_ws",
        "s2s_access: none",
        "",
        "auth_method: internal",
        "auth_password_format: scram",
    ]
    if not s.auth_cache:
        lines += ["# 23.01 caches {error, exists} as the password of an account registered twice",
                  "# at once: its logins crash, messages to it are dropped (ejabberd_config.py).",
                  "auth_use_cache: false"]
    lines += [
        "disable_sasl_mechanisms:",
        '  - "digest-md5"',
        '  - "x-oauth2"',
        "",
        "# No per-IP registration throttle (the default allows one account per IP per 600 s).",
        "registration_timeout: infinity",
        "",
        "acl:",
        "  local:",
        '    user_regexp: ""',
        "access_rules:",
        "  local:",
        "    allow: local",
        "  c2s:",
        "    allow: all",
        "",
        "modules:",
    ]
    options = module_options(s)
    for name in modules(s):
        extra = options.get(name, [])
        lines.append(f"  {name}:" if extra else f"  {name}: {{}}")
        lines += [f"    {line}" for line in extra]
    lines.append("")
    return "\n".join(lines)


def erlang_string(text: str) -> str:
    """``text`` as an Erlang string term (for ``-mnesia dir "..."``)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def node_command(settings: EjabberdSettings, erl: str) -> list[str]:
    """The command line that runs the node in the foreground: what ``ejabberdctl
    foreground`` runs, plus ``-start_epmd false`` (imload starts epmd itself) and the
    distribution listener bound to the loopback address."""
    s = settings
    address = "{" + ",".join(s.host.split(".")) + "}"
    return [erl, "-name", s.erlang_node, "-start_epmd", "false",
            "-kernel", "inet_dist_use_interface", address,
            "+K", "true", "+P", "250000", "-noinput",
            "-mnesia", "dir", erlang_string(str(s.spool_path)),
            "-s", "ejabberd"]


def epmd_command(epmd: str, host: str, port: int) -> list[str]:
    """A private epmd in the foreground (no ``-daemon``) on ``host:port``."""
    return [epmd, "-port", str(port), "-address", host]


def ctl_command(erl: str, host: str, ctl_name: str, erlang_node: str,
                command: tuple[str, ...]) -> list[str]:
    """An ejabberdctl command run against ``erlang_node``: what ``ejabberdctl COMMAND``
    runs (a hidden node calling ``ejabberd_ctl``), without the script's ``su``."""
    return [erl, "-name", f"{ctl_name}@{host}", "-hidden", "-noinput", "-start_epmd", "false",
            "-s", "ejabberd_ctl", "-extra", erlang_node, *command]


def erlang_env(base: dict[str, str], home: Path, epmd_port: int,
               erl_libs: str) -> dict[str, str]:
    """``base`` without the caller's Erlang variables, plus what every erl of the cluster
    (nodes and control commands) needs: HOME (holds the cluster's ``.erlang.cookie``), the
    private epmd's port, and where ejabberd's code is."""
    env = {k: v for k, v in base.items() if k not in ERL_VARIABLES}
    env.update(HOME=str(home), ERL_EPMD_PORT=str(epmd_port), ERL_LIBS=erl_libs)
    return env


def node_env(settings: EjabberdSettings, base: dict[str, str], home: Path, epmd_port: int,
             erl_libs: str) -> dict[str, str]:
    """The environment of the node's ``erl``: :func:`erlang_env` plus ejabberd's config
    and log paths (the variables ejabberdctl sets), and no crash dumps."""
    env = erlang_env(base, home, epmd_port, erl_libs)
    env.update(EJABBERD_CONFIG_PATH=str(settings.config_path),
               EJABBERD_LOG_PATH=str(settings.log_path),
               ERL_CRASH_DUMP=str(settings.directory / "erl_crash.dump"),
               ERL_CRASH_DUMP_BYTES="0", ERL_MAX_PORTS="32000", ERL_MAX_ETS_TABLES="1400")
    return env


def epmd_answers(host: str, port: int) -> bool:
    """True when an epmd answers a NAMES request on ``host:port`` (its reply starts with
    its own port number, 4 bytes)."""
    try:
        with socket.create_connection((host, port), timeout=1) as s:
            s.sendall(b"\x00\x01n")  # length 1, EPMD_NAMES_REQ
            return s.recv(4) == port.to_bytes(4, "big")
    except OSError:
        return False


def find_ejabberd(install: bool = True) -> Installation:
    """The installed ejabberd; installs the Debian package first when it is missing and
    we are root (``install``), else ClusterError saying how to install it."""
    def locate() -> str | None:
        return shutil.which("ejabberdctl") or (EJABBERDCTL if os.access(EJABBERDCTL, os.X_OK)
                                               else None)

    ctl = find_or_install("ejabberd", locate, "ejabberdctl not found", install)
    how = how_to_install("ejabberd")
    text = Path(ctl).read_text(encoding="utf-8", errors="replace")
    erl = script_value(text, "ERL") or shutil.which("erl")
    epmd = script_value(text, "EPMD") or shutil.which("epmd")
    libs = script_value(text, "ERL_LIBS")  # Debian's script sets it: ejabberd's code is there
    if not (erl and epmd and libs):
        raise ClusterError(f"{ctl}: could not tell where erl, epmd and ejabberd's code are "
                           f"(erl={erl}, epmd={epmd}, ERL_LIBS={libs}); {how}")
    apps = sorted(Path(libs).glob("ejabberd-*/ebin/ejabberd.app"))
    version = apps[0].parts[-3].removeprefix("ejabberd-") if apps else None
    return Installation(ctl, erl, epmd, libs, version)
