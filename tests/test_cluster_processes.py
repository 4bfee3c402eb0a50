"""The supervisor's stop (imload/cluster/processes.py) with a real process group: a part's
leader stops on SIGTERM, but its own group holds a child that ignores SIGTERM (as a beam's
erl_child_setup can outlive its VM for a moment); stopping the part ends the child too."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from cluster_helpers import gone

from imload.cluster.processes import Part, Supervisor, running_in_group

LEADER = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c",
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    "print('ignoring ' + 'SIGTERM', flush=True); time.sleep(60)"])
print(child.pid, flush=True)
time.sleep(60)
"""


def test_stopping_a_part_ends_everything_in_its_group(tmp_path: Path) -> None:
    log = tmp_path / "part.log"
    part = Part("p", "node", 0, [sys.executable, "-c", LEADER], str(log))
    sup = Supervisor()
    sup.spawn(part, tmp_path, dict(os.environ), part.cmd)
    leader = part.pid
    assert leader is not None

    def pids() -> list[int]:
        return [int(ln) for ln in log.read_text().splitlines() if ln.isdigit()]

    # the marker is built at run time: the log's first line shows the command itself
    sup.wait_ready(part, lambda: "ignoring SIGTERM" in log.read_text() and bool(pids()), 20)
    (child,) = pids()
    assert running_in_group(leader) and not gone(child)
    sup.terminate([part], grace_s=0.5)
    assert gone(leader) and gone(child)
    assert not running_in_group(leader) and part.pid is None
