"""The Lua config of a private Prosody 0.12 server: a pure function, no I/O.

``prosody_config(ProsodySettings(...))`` returns the text of ``prosody.cfg.lua`` for one
Prosody process that lives entirely inside a cluster directory: pid file, data and logs
under it, listening on 127.0.0.1 only, on ports chosen by the caller, with no s2s. Nothing
system-wide (``/etc/prosody``, ``/var/lib/prosody``, the system service) is read or touched.

The option names were checked against Prosody 0.12.3's own source (``/usr/lib/prosody``):

- ``run_as_root = true`` when started as root: ``mod_posix`` otherwise shuts down with
  "Refusing to run as root" (CI runs as root).
- registration throttle: ``mod_register_limits`` throttles only when
  ``min_seconds_between_registrations`` or ``registration_throttle_max`` is set, and never
  for IPs in ``registration_allowlist`` (default 127.0.0.1 and ::1). We set neither option
  and list the loopback addresses explicitly, so a load test may register thousands of
  accounts a second from 127.0.0.1 (Toxiproxy connects from there too).
- ``https_ports = {}`` so ``mod_http`` opens no TLS listener; ``modules_disabled = {"s2s"}``
  because s2s is auto-loaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

BASE_MODULES = ("roster", "saslauth", "disco", "ping", "register", "carbons", "mam",
                "websocket")


@dataclass(frozen=True, slots=True)
class ProsodySettings:
    """Everything that varies between private Prosody servers."""

    directory: Path  # the node's own folder: config, data, certs and pid file live here
    c2s_port: int
    http_port: int
    domain: str = "localhost"
    smacks: bool = True  # False leaves mod_smacks out: drills that show loss without it
    run_as_root: bool = False
    host: str = "127.0.0.1"
    tls: tuple[Path, Path] | None = None  # (certificate chain, key): STARTTLS on c2s

    @property
    def muc_domain(self) -> str:
        return f"conference.{self.domain}"

    @property
    def config_path(self) -> Path:
        return self.directory / "prosody.cfg.lua"

    @property
    def data_path(self) -> Path:
        return self.directory / "data"

    @property
    def certs_path(self) -> Path:
        """An empty folder: no TLS here, but Prosody logs an error if it has none."""
        return self.directory / "certs"

    @property
    def pid_path(self) -> Path:
        return self.directory / "prosody.pid"


def modules(settings: ProsodySettings) -> list[str]:
    """The ``modules_enabled`` list: the base modules, plus ``smacks`` when asked for."""
    return [*BASE_MODULES, *(["tls"] if settings.tls else []),
            *(["smacks"] if settings.smacks else [])]


def lua_string(text: str) -> str:
    """``text`` as a double-quoted Lua string literal."""
    out = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{out}"'


def lua_list(items: list[str]) -> str:
    return "{ " + "; ".join(lua_string(i) for i in items) + " }"


def prosody_config(settings: ProsodySettings) -> str:
    """The text of ``prosody.cfg.lua`` for ``settings``."""
    s = settings
    lines = [
        "-- Written by imload (imload/cluster/backends/prosody_config.py); rewritten at",
        "-- every `imload cluster up`. A private server: nothing outside this folder is used.",
        "",
        "-- Started in the foreground (prosody -F) as a child of imload's supervisor.",
        "daemonize = false",
        f"pidfile = {lua_string(str(s.pid_path))}",
        f"data_path = {lua_string(str(s.data_path))}",
        f"certificates = {lua_string(str(s.certs_path))}",
        "-- The console is the supervisor's log file (DIR/logs/<node>.log).",
        'log = { { levels = { min = "info" }, to = "console" } }',
    ]
    if s.run_as_root:
        lines += ["-- CI runs as root; mod_posix refuses to start as root without this.",
                  "run_as_root = true"]
    lines += [
        "",
        "-- Loopback only, on ports imload chose; no TLS listener, no server-to-server.",
        f"interfaces = {{ {lua_string(s.host)} }}",
        f"local_interfaces = {{ {lua_string(s.host)} }}",
        f"c2s_ports = {{ {s.c2s_port} }}",
        "c2s_direct_tls_ports = {}",
        "legacy_ssl_ports = {}",
        f"http_ports = {{ {s.http_port} }}",
        f"http_interfaces = {{ {lua_string(s.host)} }}",
        "https_ports = {}",
        "https_interfaces = {}",
        'modules_disabled = { "s2s" }',
        "",
        "-- Plain streams are acceptable here ONLY because every listener is on loopback:",
        "-- a load test's clients and Toxiproxy run on this machine.",
        "c2s_require_encryption = false",
        "consider_websocket_secure = true",
        *([f"ssl = {{ certificate = {lua_string(str(s.tls[0]))}; "
           f"key = {lua_string(str(s.tls[1]))} }}",
           "-- STARTTLS is offered on c2s (mod_tls), with a throwaway CA's certificate for",
           "-- 127.0.0.1 and localhost (DIR/ca.pem); the websocket stays plain."]
          if s.tls else []),
        "",
        'authentication = "internal_hashed"',
        'storage = "internal"',
        "",
        "-- In-band registration (XEP-0077), without the per-IP throttle: no",
        "-- min_seconds_between_registrations / registration_throttle_max, and loopback",
        "-- allowlisted (mod_register_limits never throttles an allowlisted IP).",
        "allow_registration = true",
        'registration_allowlist = { "127.0.0.1"; "::1" }',
        "",
        "-- Message archive: keep everything, archive every conversation by default.",
        'archive_expires_after = "never"',
        "default_archive_policy = true",
        "",
        f"modules_enabled = {lua_list(modules(s))}",
        "",
        f"VirtualHost {lua_string(s.domain)}",
        "",
        f"Component {lua_string(s.muc_domain)} \"muc\"",
        '\tmodules_enabled = { "muc_mam" }',
        '\tmuc_log_expires_after = "never"',
        "\t-- A group is a room (imload/adapters/xmpp/rooms.py): persistent, members-only,",
        "\t-- its members' JIDs visible, usable at once (no lock until configured), no",
        "\t-- history on entry (the archive is read by MAM), archived by default.",
        "\tmuc_room_default_persistent = true",
        "\tmuc_room_default_members_only = true",
        "\tmuc_room_default_public_jids = true",
        "\tmuc_room_default_history_length = 0",
        "\tmuc_room_locking = false",
        "\tmuc_log_by_default = true",
        "",
    ]
    return "\n".join(lines)
