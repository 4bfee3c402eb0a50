"""The devices' own network: a namespace and a veth pair the run makes, and removes.

A drill with ``netem`` faults runs Locust inside the network namespace ``imload-<run>``
(``ip netns exec``). The namespace's end of a veth pair routes to the host's end, and the
local cluster listens on the host end's address (198.18.0.0/15, RFC 2544's benchmarking
range: a /30 picked from the run's name and not in use here), so every device packet
crosses the pair while nothing leaves the machine. The faults are rules on the pair
(``packet_rules.py`` renders them): nft's netdev tables at each end's ingress, htb and
netem qdiscs at each end's egress; without the kernel's netem, delay and the rest are
made by imload's userspace emulator (``emulators.py``: NFQUEUE rules in the namespace and
one process per fault and direction). The host end's nft table is ``imload_<run>``; the
rest lives in the namespace, and removing the namespace removes the pair.

``PacketNetwork`` is a context manager: ``close`` removes every namespace, link and table
it made, on success, on failure and on Ctrl-C (``imload run`` turns SIGTERM into the same
KeyboardInterrupt), stopping the emulators first, and is safe to call twice. A run killed
outright (SIGKILL) cannot clean up: each namespace's maker is written to
``/run/imload/<namespace>.pid``, and ``sweep`` (``imload sweep``) removes the namespaces
whose maker is gone, killing what still runs in them. Everything goes through
``shell.sh``, the one wrapper of ``ip``, ``tc``, ``nft`` and ``iptables``.

What this machine can do is probed once, in throwaway namespaces (``unshare -n``) that
vanish with their process: ``means()`` says what is missing, by name.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
import re
import shutil
import threading
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import TracebackType
from urllib.parse import urlsplit

from imload.faults.emulators import Emulators, end_processes_in, why_not
from imload.faults.packet_rules import DOWN, UP, LinkFault, nft_remove, nft_script, tc_commands
from imload.faults.shell import NetError, quiet, sh, works

PREFIX = "imload-"
OWNERS = Path("/run/imload")  # <namespace>.pid: the process that made it (for ``sweep``)
BLOCK = ipaddress.ip_network("198.18.0.0/15")
TOOLS = {"ip": "iproute2", "tc": "iproute2", "nft": "nftables", "unshare": "util-linux"}
NO_NETEM = ("the kernel's netem qdisc (sch_netem, CONFIG_NET_SCH_NETEM), which this kernel "
            "does not have")


@dataclass(frozen=True)
class Means:
    """What this machine offers packet faults (``means()``)."""

    root: bool
    missing_tools: tuple[str, ...]  # "nft (nftables)", ...
    netem: bool                     # tc's netem qdisc
    nft: bool                       # nf_tables netdev ingress with numgen and dynamic sets
    emulator: str | None = "not probed"  # what the userspace emulator lacks; None: it works

    def refusal(self) -> str | None:
        """Why no packet fault can be made here, or None."""
        if not self.root:
            return ("packet faults need root (network namespaces, veth pairs, tc and nft): "
                    "run imload as root")
        if self.missing_tools:
            return (f"packet faults need {', '.join(self.missing_tools)} on PATH "
                    "(sudo scripts/install-package.sh PACKAGE)")
        return None


NFT_PROBE = ('table netdev probe { set s { type inet_proto; flags dynamic; }\n'
             '  chain c { type filter hook ingress device "lo" priority 0;\n'
             '    numgen random mod 100 < 1 add @s { meta l4proto } accept\n'
             '    meta l4proto @s delete @s { meta l4proto } accept\n  }\n}\n')


@cache
def means() -> Means:
    """Probe once: root, the tools, netem and nft (in namespaces that die with the probe)."""
    missing = tuple(f"{tool} ({package})" for tool, package in TOOLS.items()
                    if shutil.which(tool) is None)
    root = os.geteuid() == 0
    if not root or missing:
        return Means(root, missing, netem=False, nft=False)
    netem = works(["unshare", "-n", "tc", "qdisc", "add", "dev", "lo", "root", "netem",
                   "delay", "1ms"])
    nft = works(["unshare", "-n", "nft", "-f", "-"], NFT_PROBE)
    return Means(root, missing, netem=netem, nft=nft, emulator=None if netem else why_not())


def names(run_id: str) -> tuple[str, str, str, str]:
    """(namespace, host end, namespace end, host nft table) of a run; a link's name has at
    most 15 characters, so the veth ends carry a hash of the namespace's name."""
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,40}", run_id):
        raise ValueError(f"a run id is 1-40 of [A-Za-z0-9_-], got {run_id!r}")
    ns = f"{PREFIX}{run_id}"
    tag = hashlib.sha256(ns.encode()).hexdigest()[:8]
    return ns, f"im{tag}h", f"im{tag}n", "imload_" + run_id.replace("-", "_")


def pick_subnet(tag: str, used: set[ipaddress.IPv4Address]) -> ipaddress.IPv4Network:
    """A /30 of 198.18.0.0/15 chosen by ``tag``, none of whose addresses is in ``used``."""
    subnets = 2 ** (30 - BLOCK.prefixlen)
    first = int(hashlib.sha256(tag.encode()).hexdigest(), 16) % subnets
    for i in range(subnets):
        net = ipaddress.ip_network((int(BLOCK.network_address) + 4 * ((first + i) % subnets),
                                    30))
        if not any(a in net for a in used):
            return net
    raise NetError(f"no free /30 in {BLOCK}")


def addresses_in_use() -> set[ipaddress.IPv4Address]:
    out = sh(["ip", "-4", "-o", "addr", "show"])
    return {ipaddress.ip_interface(m).ip for m in re.findall(r"inet (\S+)", out)}


def namespaces(prefix: str = PREFIX) -> list[str]:
    """The network namespaces here whose names start with ``prefix``."""
    return [n.split()[0] for n in sh(["ip", "netns", "list"]).splitlines()
            if n.startswith(prefix)]


def leftovers(prefix: str = PREFIX) -> list[str]:
    """Namespaces, links and nft tables here whose names start with ``prefix`` (or its
    veth/table forms): what a run left behind; [] when clean."""
    found = [f"netns {ns}" for ns in namespaces(prefix)]
    found += [f"link {n}" for n in re.findall(r"^\d+: (im[0-9a-f]{8}[hn])[@:]",
                                             sh(["ip", "-o", "link", "show"]), re.M)]
    if shutil.which("nft"):
        table = prefix.replace("-", "_")
        found += [f"nft {line}" for line in sh(["nft", "list", "tables"]).splitlines()
                  if line.split()[-1:] and line.split()[-1].startswith(table)]
    return found


COUNTERS = ("OutSegs", "RetransSegs", "TCPTimeouts", "TCPLossProbes", "TCPSynRetrans",
            "TCPFastRetrans", "TCPSlowStartRetrans")


def tcp_counters(text: str) -> dict[str, int]:
    """``COUNTERS`` from /proc/net/snmp and /proc/net/netstat's text (header line, value
    line, per protocol); a counter the kernel does not have is 0."""
    found: dict[str, int] = {}
    lines = text.splitlines()
    for header, values in zip(lines, lines[1:], strict=False):
        keys, numbers = header.split(), values.split()
        if keys[:1] == numbers[:1] and keys[:1] in (["Tcp:"], ["TcpExt:"]):
            found.update((k, int(v)) for k, v in zip(keys[1:], numbers[1:], strict=False)
                         if v.lstrip("-").isdigit())
    return {k: found.get(k, 0) for k in COUNTERS}


def ports_of(nodes: Mapping[str, object]) -> dict[str, int]:
    """Each fault target's port (a node's or a profile's proxy), from its ``url``."""
    out = {}
    for name, node in nodes.items():
        with suppress(ValueError):
            port = urlsplit(getattr(node, "url", "") or "").port
            if port:
                out[name] = port
    return out


class PacketNetwork:
    """The run's namespace and veth pair, and the packet faults on them."""

    def __init__(self, run_id: str) -> None:
        self.ns, self.host_dev, self.ns_dev, self.table = names(run_id)
        self.netem, self.nft = means().netem, means().nft
        self.emulator = means().emulator  # what the userspace emulator lacks; None: it works
        self._emulators = Emulators(self.ns, OWNERS / f"{self.ns}.emulator")
        self.host_ip = self.ns_ip = ""
        self.ports: dict[str, int] = {}  # fault target (node or node.profile) -> its port
        self._faults: dict[str, LinkFault] = {}
        self._applied: dict[str, list[LinkFault]] = {}  # per nft table: what its rules make
        self._applied_tc: dict[str, list[list[str]]] = {}  # per device: its qdisc tree's commands
        self._lock = threading.Lock()
        self._made = False

    def open(self) -> PacketNetwork:
        """Make the namespace and the pair; NetError (with everything removed) when it cannot."""
        why = means().refusal()
        if why:
            raise NetError(why)
        net = pick_subnet(self.ns, addresses_in_use())
        host, peer = list(net.hosts())
        self.host_ip, self.ns_ip = str(host), str(peer)
        owner = OWNERS / f"{self.ns}.pid"  # first: a sweep never sees it without one
        try:
            OWNERS.mkdir(mode=0o700, parents=True, exist_ok=True)
            owner.write_text(f"{os.getpid()} {_started(os.getpid())}\n")
            sh(["ip", "netns", "add", self.ns])  # refused when the name is taken: not ours
        except (NetError, OSError):
            owner.unlink(missing_ok=True)
            raise
        self._made = True
        try:
            for argv in (["ip", "link", "add", "name", self.host_dev, "type", "veth", "peer",
                          "name", self.ns_dev, "netns", self.ns],
                         ["ip", "addr", "add", f"{host}/30", "dev", self.host_dev],
                         ["ip", "-n", self.ns, "addr", "add", f"{peer}/30", "dev", self.ns_dev],
                         # one TCP segment per packet: a loss is one segment, as on a real link
                         ["ip", "link", "set", "dev", self.host_dev, "gso_max_segs", "1", "up"],
                         ["ip", "-n", self.ns, "link", "set", "dev", self.ns_dev,
                          "gso_max_segs", "1", "up"],
                         ["ip", "-n", self.ns, "link", "set", "dev", "lo", "up"],
                         ["ip", "-n", self.ns, "route", "add", "default", "via", str(host)]):
                sh(argv)
        except NetError:
            self.close()
            raise
        return self

    def describe(self) -> str:
        return (f"namespace {self.ns} ({self.ns_ip}), veth {self.host_dev} ({self.host_ip}), "
                f"nft table {self.table}")

    def exec_prefix(self) -> list[str]:
        """What runs a command inside the namespace."""
        return ["ip", "netns", "exec", self.ns]

    def tcp_counters(self) -> dict[str, int]:
        """The namespace's TCP counters (the devices' side): ``COUNTERS``; NetError without."""
        read = [*self.exec_prefix(), "cat", "/proc/net/snmp", "/proc/net/netstat"]
        return tcp_counters(sh(read))

    def keep_counters(self, path: Path) -> str:
        """Write the TCP counters to ``path`` (JSON) before the namespace goes; the line
        saying them, or why they could not be read."""
        try:
            counters = self.tcp_counters()
            emulated = self.emulated()
            kept = {**counters, **({"emulator": emulated} if emulated else {})}
            path.write_text(json.dumps(kept, indent=1) + "\n")
        except (NetError, OSError) as e:
            return f"the devices' TCP counters could not be kept: {e}"
        said = ("" if not emulated else
                f"; the packet emulator: {', '.join(f'{v} {k}' for k, v in emulated.items())}")
        return (f"the devices' TCP ({path.name}): {counters['RetransSegs']} of "
                f"{counters['OutSegs']} segments sent again, {counters['TCPTimeouts']} "
                f"retransmission timeouts{said}")

    def emulated(self) -> dict[str, int]:
        """The userspace emulator's counts (``packet_emulator.COUNTS``), summed over the
        faults stopped so far; {} when it made none."""
        return self._emulators.total()

    def add(self, fault: LinkFault) -> None:
        """Put ``fault`` on: its rules, and its emulators without the kernel's netem."""
        with self._lock:
            self._faults[fault.fault_id] = fault
            self._apply()
            if not self.netem:
                try:
                    self._emulators.start(fault)
                except NetError:
                    self._faults.pop(fault.fault_id)
                    self._apply()
                    raise

    def remove(self, fault_id: str) -> None:
        with self._lock:
            errors = self._emulators.stop(fault_id)
            if self._faults.pop(fault_id, None) is not None:
                self._apply()
            if errors:
                raise NetError("; ".join(errors))

    def _apply(self) -> None:
        """Move the rules to the faults that are on; a table or qdisc tree whose part of
        them did not change is left alone (a rebuilt one drops what it holds)."""
        faults = list(self._faults.values())
        for prefix, table, dev, direction in ((self.exec_prefix(), "imload", self.ns_dev, DOWN),
                                              ([], self.table, self.host_dev, UP)):
            script = nft_script(table, dev, direction, faults, self.netem,
                                self._applied.get(table, []))
            if script:
                sh([*prefix, "nft", "-f", "-"], script)
            self._applied[table] = faults
        for tc, dev, direction in ((["tc", "-n", self.ns], self.ns_dev, UP),
                                   (["tc"], self.host_dev, DOWN)):
            commands = tc_commands(dev, direction, faults, self.netem)
            if commands == self._applied_tc.get(dev):
                continue
            quiet([*tc, "qdisc", "del", "dev", dev, "root"])
            for argv in commands:
                sh([*tc, *argv])
            self._applied_tc[dev] = commands

    def close(self) -> list[str]:
        """Remove the host's table, the namespace and the pair; what could not be removed
        (after trying everything). Idempotent."""
        with self._lock:
            self._faults.clear()
            errors = self._emulators.close()  # before the namespace they run in goes
            if not self._made:
                return errors
            self._made = False
            return errors + remove_network(self.ns)

    def __enter__(self) -> PacketNetwork:
        return self.open()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def remove_network(ns: str) -> list[str]:
    """Remove namespace ``ns`` (one of ``names``), its veth pair, the host's nft table and
    its owner file; what could not be removed (after trying everything)."""
    _, host_dev, _, table = names(ns[len(PREFIX):])
    errors = []
    end_processes_in(ns)  # a killed run's emulators, and their folder
    shutil.rmtree(OWNERS / f"{ns}.emulator", ignore_errors=True)
    if shutil.which("nft"):
        errors += quiet(["nft", "-f", "-"], nft_remove(table))
    errors += quiet(["ip", "netns", "del", ns])
    errors += quiet(["ip", "link", "del", "dev", host_dev])
    with suppress(OSError):
        (OWNERS / f"{ns}.pid").unlink()
    return errors


def _started(pid: int) -> str:
    """When process ``pid`` started (clock ticks since boot, /proc/<pid>/stat field 22):
    with its pid, it names one process, whatever reuses the pid later; '' when gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return raw[raw.rindex(")") + 2:].split()[19]


def _alive_owner(ns: str) -> bool:
    """Whether the process that made ``ns`` still runs; without an owner file, whether
    any process is inside the namespace."""
    try:
        pid, started = (OWNERS / f"{ns}.pid").read_text().split()
        return _started(int(pid)) == started
    except (OSError, ValueError):
        return bool(sh(["ip", "netns", "pids", ns]).strip())


def sweep(dry_run: bool = False) -> tuple[list[str], list[str]]:
    """The namespaces (with their pairs and tables) that runs killed without their
    clean-up left here: removed (``dry_run``: only named). (swept, errors)."""
    stale = [ns for ns in namespaces() if not _alive_owner(ns)]
    errors = [] if dry_run else [e for ns in stale for e in remove_network(ns)]
    return stale, errors
