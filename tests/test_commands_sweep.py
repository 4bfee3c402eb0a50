"""``imload sweep`` (imload/commands/sweep.py, imload/faults/netns.sweep) as root: what a run
killed outright (SIGKILL, no clean-up) left is removed; a namespace whose maker still runs
is kept; ``--dry-run`` only names; without root, a one-line refusal."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from imload.faults.netns import leftovers, means, names

REPO = Path(__file__).resolve().parent.parent
HOLDER = """
import sys, time
from imload.faults.netns import PacketNetwork
from imload.faults.packet_rules import LinkFault, Shape
with PacketNetwork(sys.argv[1]) as net:
    net.add(LinkFault("f1", net.host_ip, 7201, "both", Shape(loss=10)))
    print("ready", flush=True)
    time.sleep(120)
"""


@pytest.fixture(autouse=True)
def _root() -> None:
    m = means()
    if m.refusal() is not None or not m.nft:
        pytest.skip(f"packet faults cannot be made here: {m.refusal() or 'no nft'}")


def ours(run_id: str) -> list[str]:
    ns, host_dev, _, table = names(run_id)
    return [x for x in leftovers() if ns in x or host_dev in x or table in x]


@contextmanager
def holding(run_id: str) -> Iterator[subprocess.Popen[str]]:
    """A process that made ``run_id``'s network and holds it; SIGKILLed at the end (its
    network stays)."""
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, run_id], cwd=REPO,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def sweep(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "imload", "sweep", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=60)


def test_what_a_killed_run_left_is_swept_and_a_live_one_kept() -> None:
    dead, alive = (f"tsw{tag}{time.monotonic_ns() % 10**6:x}" for tag in "da")
    with holding(alive), holding(dead) as doomed:
        doomed.kill()  # SIGKILL: no clean-up ran
        doomed.wait()
        assert len(ours(dead)) == 3  # its namespace, host veth and nft table
        named = sweep("--dry-run")
        assert named.returncode == 0 and f"would remove {names(dead)[0]} " in named.stdout
        assert len(ours(dead)) == 3  # a dry run removes nothing
        done = sweep()
        assert done.returncode == 0, done.stderr
        assert f"removed {names(dead)[0]} " in done.stdout
        assert names(alive)[0] not in done.stdout
        assert ours(dead) == []
        assert len(ours(alive)) == 3  # its maker still runs: kept
    assert len(ours(alive)) == 3  # its maker was SIGKILLed too (holding's end)
    assert sweep().returncode == 0 and ours(alive) == []


def test_without_root_it_is_refused() -> None:
    if shutil.which("setpriv") is None:
        pytest.skip("needs setpriv to run imload as another user")
    with tempfile.TemporaryDirectory() as where:
        Path(where).chmod(0o777)
        done = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                               sys.executable, "-m", "imload", "sweep"], capture_output=True,
                              text=True, cwd=where, timeout=60,
                              env={**os.environ, "HOME": where})
    assert done.returncode == 2
    assert done.stderr.strip() == ("imload sweep: network namespaces are root's: run it as "
                                   "root")
