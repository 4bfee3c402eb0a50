"""Child processes of the local cluster: spawn, probe, signal, stop; no knowledge of what
they are. Each child runs in its own session (its process group is its pid), so a signal
reaches it and its children and nothing else.

A pid recorded in ``cluster.json`` may be used by another process later on; ``alive``
compares the process start time (``/proc/<pid>/stat``) with the one recorded at spawn,
so a stale record never gets an unrelated process signalled.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

REPO = Path(__file__).resolve().parents[2]


class ClusterError(RuntimeError):
    """A part of the local cluster that would not start, stop or be found."""


@dataclass
class Part:
    """One process of the cluster, as recorded in cluster.json."""

    name: str  # "redis", "toxiproxy", or a node name ("n1", ...)
    kind: str  # "redis" | "toxiproxy" | "node" | "lbs"
    port: int
    cmd: list[str]
    log: str
    pid: int | None = None
    start_ticks: int | None = None  # /proc/<pid>/stat field 22: tells a reused pid apart
    proxy_port: int | None = None  # nodes: the Toxiproxy listener clients dial


def tail(path: str | Path, lines: int = 15) -> str:
    """The last non-empty ``lines`` of a log, indented, for an error message."""
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "    (no log)"
    rows = [r for r in text.splitlines() if r.strip()][-lines:]
    return "\n".join("    " + r for r in rows) if rows else "    (log is empty)"


def free_ports(host: str, count: int) -> list[int]:
    """``count`` distinct ports free on ``host`` right now (all held open while choosing)."""
    socks: list[socket.socket] = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((host, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def start_ticks(pid: int) -> int | None:
    """The start time of ``pid`` in clock ticks since boot; None if gone, a zombie, or no /proc."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()
    return int(fields[19]) if fields[0] != "Z" else None


def is_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2:].startswith("Z")


INSTALL_SCRIPT = REPO / "scripts" / "install-package.sh"
Found = TypeVar("Found")


def running_in_group(pgid: int) -> bool:
    """Whether a process of group ``pgid`` still runs (zombies aside: an orphan's may stay
    until whoever adopted it reaps it), from /proc."""
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[2] == str(pgid) and fields[0] != "Z":
            return True
    return False


def how_to_install(package: str) -> str:
    return (f"install it: sudo {INSTALL_SCRIPT} {package} (or: sudo apt-get install "
            f"{package}), or run scripts/setup.sh as root")


def find_or_install(package: str, locate: Callable[[], Found | None], missing: str,
                    install: bool = True) -> Found:
    """What ``locate`` finds. When it finds nothing and we are root (``install``), the
    Debian ``package`` is installed first (``scripts/install-package.sh``: it starts no
    service); otherwise ClusterError: ``missing`` and how to install it."""
    found = locate()
    if found:
        return found
    how = how_to_install(package)
    if not install or os.geteuid() != 0 or not INSTALL_SCRIPT.is_file():
        raise ClusterError(f"{missing}: {how}")
    done = subprocess.run(["bash", str(INSTALL_SCRIPT), package], capture_output=True,
                          text=True, check=False)
    found = locate()
    if done.returncode != 0 or not found:
        raise ClusterError(f"could not install {package} with {INSTALL_SCRIPT} "
                           f"(exit {done.returncode}):\n{done.stdout}{done.stderr}\n{how}")
    return found


def find_binary(name: str) -> str:
    """``name`` on PATH, or in <repo>/bin; ClusterError saying how to install it."""
    local = REPO / "bin" / name
    found = shutil.which(name) or (str(local) if os.access(local, os.X_OK) else None)
    if found is None:
        raise ClusterError(f"{name} not found on PATH or in {REPO / 'bin'}: "
                           f"run scripts/setup.sh to install it")
    return found


# -- readiness probes ---------------------------------------------------------------------

def redis_answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1) as s:
            s.sendall(b"PING\r\n")
            return s.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def http_ok(url: str, cafile: str | None = None) -> bool:
    """True when ``url`` answers 200 (over https, verified against ``cafile``)."""
    context = ssl.create_default_context(cafile=cafile) if url.startswith("https:") else None
    try:
        with urllib.request.urlopen(url, timeout=1, context=context) as r:
            return bool(r.status == 200)
    except (OSError, urllib.error.URLError):
        return False


# -- the supervisor -----------------------------------------------------------------------

class Supervisor:
    """Starts parts as children and signals parts, whether this process started them or not."""

    def __init__(self) -> None:
        self._procs: dict[int, subprocess.Popen[bytes]] = {}  # children of this instance

    def spawn(self, part: Part, cwd: Path, env: dict[str, str], shown: list[str]) -> None:
        """Start ``part.cmd`` with output appended to ``part.log``; record pid and start time."""
        with open(part.log, "ab") as log:
            log.write(f"=== {time.strftime('%Y-%m-%d %H:%M:%S')} start: "
                      f"{' '.join(shown)}\n".encode())
            log.flush()
            try:
                proc = subprocess.Popen(part.cmd, stdin=subprocess.DEVNULL, stdout=log,
                                        stderr=subprocess.STDOUT, start_new_session=True,
                                        cwd=cwd, env=env)
            except OSError as e:
                raise ClusterError(f"{part.name}: could not start {part.cmd[0]}: "
                                   f"{e.strerror or e}") from None
        self._procs[proc.pid] = proc
        part.pid = proc.pid
        part.start_ticks = start_ticks(proc.pid)

    def wait_ready(self, part: Part, ready: Callable[[], bool], timeout_s: float) -> None:
        """Poll ``ready`` until true; ClusterError with the log's tail if the part exits or
        the time runs out."""
        deadline = time.monotonic() + timeout_s
        while True:
            if not self.alive(part):
                raise ClusterError(f"{part.name} exited while starting (port {part.port}); "
                                   f"end of {part.log}:\n{tail(part.log)}")
            if ready():
                return
            if time.monotonic() > deadline:
                raise ClusterError(f"{part.name} not ready after {timeout_s:g} s "
                                   f"(port {part.port}); end of {part.log}:\n{tail(part.log)}")
            time.sleep(0.05)

    def alive(self, part: Part) -> bool:
        pid = part.pid
        if pid is None:
            return False
        proc = self._procs.get(pid)
        if proc is not None:
            return proc.poll() is None
        try:
            os.kill(pid, 0)
        except (ProcessLookupError, PermissionError):
            return False
        with contextlib.suppress(ChildProcessError, OSError):
            done, _ = os.waitpid(pid, os.WNOHANG)  # a child of another instance in this process
            if done:
                return False
        if not Path("/proc").is_dir():
            return True
        if is_zombie(pid):  # killed, not yet reaped by the process that started it
            return False
        ticks = start_ticks(pid)
        return ticks is not None and (part.start_ticks is None or ticks == part.start_ticks)

    def signal(self, part: Part, sig: signal.Signals) -> None:
        if part.pid is None or not self.alive(part):
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(part.pid, sig)  # its own session: the group id is the pid

    def wait_dead(self, parts: list[Part], timeout_s: float) -> list[Part]:
        """Wait until ``parts`` are gone; return those still alive at the deadline."""
        deadline = time.monotonic() + timeout_s
        left = [p for p in parts if self.alive(p)]
        while left and time.monotonic() < deadline:
            time.sleep(0.02)
            left = [p for p in left if self.alive(p)]
        return left

    def kill(self, part: Part) -> None:
        """SIGKILL ``part`` and wait until it is gone."""
        self.signal(part, signal.SIGKILL)
        if self.wait_dead([part], 5.0):
            raise ClusterError(f"{part.name} (pid {part.pid}) did not die on SIGKILL")
        self.forget(part)

    def terminate(self, parts: list[Part], grace_s: float) -> None:
        """SIGTERM, then SIGKILL what is left after ``grace_s``; forget their pids."""
        for p in parts:
            self.signal(p, signal.SIGCONT)  # a paused (SIGSTOP) part could not act on SIGTERM
            self.signal(p, signal.SIGTERM)
        for p in self.wait_dead(parts, grace_s):
            self.signal(p, signal.SIGKILL)
        stuck = self.wait_dead(parts, 5.0)
        self._end_groups([p.pid for p in parts if p.pid is not None and p not in stuck],
                         grace_s)
        for p in parts:
            if p not in stuck:
                self.forget(p)
        if stuck:
            raise ClusterError("could not stop " + ", ".join(f"{p.name} (pid {p.pid})"
                                                           for p in stuck))

    @staticmethod
    def _end_groups(pgids: list[int], grace_s: float) -> None:
        """What else runs in the parts' own groups (a beam's erl_child_setup, a shell's
        children) goes with its leader: waited for, then SIGKILLed after ``grace_s``."""
        for sig_after, wait_s in ((signal.SIGKILL, grace_s), (None, 5.0)):
            deadline = time.monotonic() + wait_s
            while (pgids := [g for g in pgids if running_in_group(g)]) and \
                    time.monotonic() < deadline:
                time.sleep(0.02)
            if not pgids or sig_after is None:
                return
            for g in pgids:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(g, sig_after)

    def forget(self, part: Part) -> None:
        if part.pid is not None:
            proc = self._procs.pop(part.pid, None)
            if proc is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=1)
        part.pid = None
        part.start_ticks = None
