"""XMPP drills against a real Prosody, end to end (``imload run``, Locust, Toxiproxy).

The drills of ``chaos/xmpp-mass-disconnect.toml`` and ``chaos/xmpp-no-smacks.toml``,
shortened: first the devices' uplinks silently drop what they send, then every
connection is cut. With XEP-0198 stream management the promise holds: nothing the
server acked is lost. Without it (mod_smacks not loaded) a stanza counts as sent once
written, so what vanished is lost: reported with evidence, and the run still passes,
since XMPP without stream management never promised it (the adapter's promises).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from imload.journal import read_journal

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.integration

SHORTER = {"users": "12", "duration_s": "30"}  # faults at 10-18 s (uplink) and 22-25 s (cut)


def shortened(name: str, tmp: Path) -> Path:
    text = (REPO / "chaos" / f"{name}.toml").read_text()
    for key, value in SHORTER.items():
        text = re.sub(rf"(?m)^{key} = \S+", f"{key} = {value}", text, count=1)
    text = text.replace("at_s = 28", "at_s = 22")
    path = tmp / f"{name}.toml"
    path.write_text(text)
    return path


Run = tuple[subprocess.CompletedProcess[str], dict[str, Any], Path]


@pytest.fixture(scope="module")
def drills(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Run]:
    """Both drills, run at the same time (each starts its own Prosody on its own ports;
    the load is light, and the suite's time is not): name -> (process, verdict, out)."""
    procs = {}
    for name in ("xmpp-mass-disconnect", "xmpp-no-smacks"):
        tmp = tmp_path_factory.mktemp(name)
        out = tmp / "out"
        procs[name] = (subprocess.Popen(
            [sys.executable, "-m", "imload", "run", str(shortened(name, tmp)), "--out",
             str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO),
            out)
    done: dict[str, Run] = {}
    for name, (proc, out) in procs.items():
        stdout, stderr = proc.communicate(timeout=300)
        verdict = orjson.loads((out / "verdict.json").read_bytes()) \
            if (out / "verdict.json").is_file() else {}
        done[name] = (subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr),
                      verdict, out)
    for _, _, out in done.values():
        left = subprocess.run(["pgrep", "-f", str(out / "cluster")], capture_output=True,
                              text=True)
        assert left.stdout == "", f"processes left behind: {left.stdout}"
    return done


def test_with_stream_management_no_acked_stanza_is_lost(drills: dict[str, Run]) -> None:
    done, v, out = drills["xmpp-mass-disconnect"]
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert v["outcome"] == "passed" and v["valid"] is True
    assert v["promises"] == ["lost", "partial", "phantom", "aborted", "corrupted",
                            "undecryptable"]
    assert v["counts"]["acked"] > 50 and v["anomalies"]["lost"] == 0
    # members whose membership changed while a message was sent may get it: not owed
    assert v["counts"]["delivered"] >= v["counts"]["expected_deliveries"]
    assert v["latency_ms"]["reconnect"]["count"] >= 12  # the cut reached every device
    assert v["coverage"]["lost"]["percent"] == 100.0
    assert v["counts"]["reads_ok"] > 20 and v["anomalies"]["read_sync"] == 0  # XEP-0333
    sends, ops = group_traffic(out)
    assert sends > 20 and "group_create" in ops and "group_add" in ops  # rooms were judged


def group_traffic(out: Path) -> tuple[int, set[str]]:
    """(group messages acked, kinds of group op acked or tried) in a run's journal."""
    sends, ops = 0, set()
    for e in read_journal(out / "journal").events:  # columnar or JSON lines
        if e.get("ev") == "send_ok" and str(e.get("conv", "")).startswith("g:"):
            sends += 1
        elif e.get("ev") == "op":
            ops.add(e["kind"])
    return sends, ops


def test_without_stream_management_the_loss_is_found_and_not_promised(
        drills: dict[str, Run]) -> None:
    done, v, _ = drills["xmpp-no-smacks"]
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert v["promises"] == ["phantom", "corrupted", "undecryptable"]
    assert v["anomalies"]["lost"] > 0 and v["examples"]["lost"]
    assert v["outcome"] == "passed" and v["anomalies"]["phantom"] == 0
    assert "found, not promised: lost" in " ".join(done.stdout.split())
