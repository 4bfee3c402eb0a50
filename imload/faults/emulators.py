"""The userspace emulator's processes and queue rules, for ``PacketNetwork`` (``netns.py``).

Without the kernel's netem, a fault asking delay, jitter, reorder, duplicate or corrupt
gets, per direction, one ``python -m imload.faults.nfqueue`` process inside the run's
namespace (its own session) and one iptables NFQUEUE rule there
(``packet_rules.nfqueue_rule``): the rule is added once the process has bound its queue,
and deleted before the process is stopped (SIGTERM: it releases what it holds; SIGKILL
after a grace). ``close`` stops them all and removes their folder (counts and logs, in
``/run/imload/<namespace>.emulator``); the namespace is removed after that, by its owner.
Each process's counts are kept when it stops (``counts``), for the run's
``network.json``.

``why_not()`` probes once whether this path works here: iptables on PATH, fnfqueue
importable, an NFQUEUE rule accepted in a throwaway namespace (``unshare -n``).
"""

from __future__ import annotations

import contextlib
import importlib.util
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from imload.faults.packet_emulator import seed_of
from imload.faults.packet_rules import DOWN, UP, LinkFault, emulated, nfqueue_rule
from imload.faults.shell import NetError, quiet, sh, works

READY_S = 20.0   # how long a starting emulator may take to bind its queue
GRACE_S = 3.0    # SIGTERM, then SIGKILL after this


@cache
def why_not() -> str | None:
    """What the userspace emulator lacks here, by name; None when it works."""
    if shutil.which("iptables") is None:
        return "iptables on PATH (sudo scripts/install-package.sh iptables)"
    if importlib.util.find_spec("fnfqueue") is None:
        return "the Python package fnfqueue (pip install 'fnfqueue>=1.1.2')"
    rule = ["OUTPUT", "-p", "tcp", "--dport", "9", "-j", "NFQUEUE", "--queue-num", "1",
            "--queue-bypass"]
    if not works(["unshare", "-n", "iptables", "-w", "-A", *rule]):
        return ("iptables' NFQUEUE target (CONFIG_NETFILTER_NETLINK_QUEUE, "
                "CONFIG_NETFILTER_XT_TARGET_NFQUEUE, CONFIG_NFT_COMPAT)")
    return None


@dataclass
class Running:
    """One emulator process and its rule."""

    key: str            # "<fault id>/<direction>"
    proc: subprocess.Popen[bytes]
    rule: list[str]
    counts_path: Path
    log_path: Path


class Emulators:
    """The emulator processes of one namespace's faults."""

    def __init__(self, ns: str, folder: Path) -> None:
        self._ns = ns
        self._exec = ["ip", "netns", "exec", ns]
        self._running: dict[str, Running] = {}
        self._queues = itertools.count(1)
        self._folder = folder  # the processes' counts and logs; removed by ``close``
        self._made = False
        self.counts: dict[str, dict[str, int]] = {}  # "<fault id>/<direction>" -> counts

    def start(self, fault: LinkFault) -> None:
        """Start the fault's emulators and add their rules; NetError (with whatever was
        started stopped) when one cannot be made."""
        shape = emulated(fault.shape)
        if not shape:
            return
        try:
            for direction in (UP, DOWN):
                if fault.goes(direction):
                    self._start_one(fault, direction, shape)
        except NetError:
            self.stop(fault.fault_id)
            raise

    def _start_one(self, fault: LinkFault, direction: str, shape: dict[str, float | str]) -> None:
        if not self._made:
            self._folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            self._made = True
        key = f"{fault.fault_id}/{direction}"
        queue = next(self._queues)
        counts, log = self._folder / f"q{queue}.json", self._folder / f"q{queue}.log"
        argv = [*self._exec, sys.executable, "-m", "imload.faults.nfqueue", "--queue",
                str(queue), "--shape", json.dumps(shape), "--seed",
                str(seed_of(fault.fault_id, direction)), "--counts", str(counts),
                "--label", f"{self._ns}/{key}", *(["--resend"] if direction == UP else [])]
        with open(log, "wb") as out:
            try:
                proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out,
                                        stderr=subprocess.STDOUT, start_new_session=True)
            except OSError as e:
                raise NetError(f"the packet emulator could not start: {e}") from None
        running = Running(key, proc, nfqueue_rule(fault, direction, queue), counts, log)
        self._running[key] = running
        deadline = time.monotonic() + READY_S
        while not counts.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise NetError(f"the packet emulator for {key} did not start: "
                               + _tail(log))
            time.sleep(0.05)
        sh([*self._exec, "iptables", "-w", "-A", *running.rule])

    def stop(self, fault_id: str) -> list[str]:
        """Delete the fault's rules, stop its emulators, keep their counts; what could not
        be done."""
        errors: list[str] = []
        for key in [k for k in self._running if k.rsplit("/", 1)[0] == fault_id]:
            running = self._running.pop(key)
            errors += quiet([*self._exec, "iptables", "-w", "-D", *running.rule])
            errors += _end(running.proc)
            with contextlib.suppress(OSError, ValueError):
                counts = json.loads(running.counts_path.read_text())
                kept = self.counts.setdefault(key, {})  # a fault id used again: summed
                for k, v in counts.items():
                    kept[k] = kept.get(k, 0) + int(v)
        return errors

    def close(self) -> list[str]:
        """Stop every emulator and remove their folder; what could not be done."""
        errors: list[str] = []
        for fault_id in {k.rsplit("/", 1)[0] for k in self._running}:
            errors += self.stop(fault_id)
        if self._made:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._made = False
        return errors

    def total(self) -> dict[str, int]:
        """The counts of every emulator stopped so far, summed."""
        out: dict[str, int] = {}
        for counts in self.counts.values():
            for k, v in counts.items():
                out[k] = out.get(k, 0) + int(v)
        return out


def _end(proc: subprocess.Popen[bytes]) -> list[str]:
    """SIGTERM the process's group, SIGKILL it after ``GRACE_S``; [] or what went wrong."""
    for sig, wait_s in ((signal.SIGTERM, GRACE_S), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=wait_s)
            return []
        except subprocess.TimeoutExpired:
            continue
    return [f"the packet emulator (pid {proc.pid}) did not stop"]


def _tail(path: Path, lines: int = 5) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()[-lines:]
    except OSError:
        return "(no log)"
    return " / ".join(text) or "(it wrote nothing)"


def end_processes_in(ns: str) -> None:
    """SIGKILL whatever still runs in namespace ``ns`` (a killed run's emulators)."""
    with contextlib.suppress(NetError):
        for pid in sh(["ip", "netns", "pids", ns]).split():
            with contextlib.suppress(ProcessLookupError, PermissionError, ValueError):
                os.kill(int(pid), signal.SIGKILL)
