"""Peers on one workload: CPU per 1,000 messages of imload's generator, a bare Locust user
and Tsung (issue #14).

    .venv/bin/python benchmarks/bench_peers.py [--quick] [--pairs P] [--seconds S]
                                               [--interval I] [--rounds N]

The workload: ``P`` pairs of devices in direct chats (default 100: 200 devices), each
device sending one message every ``I`` seconds on average (0.5, jitter 0.5-1.5 x), for
``S`` seconds (60) against one reference node (admission limits raised, as
bench_generator.py's ``NODE_ARGS``), no proxy, the load in one Locust process. Measured in
the steady middle of each run (``peers_meter.py``: the first and last sixth left out:
logins, ramp, drain): the Locust process's CPU and the messages acked meanwhile.
``--quick``: 25 pairs for 24 s. Contenders, alternating round by round (a machine others
load drifts between runs):

- ``imload``: ``locustfiles/chat.py`` (``ChatUser``) replaying a trace of exactly this
  workload (``--imload-trace``): per message the engine's send and retry timer, its
  ``send_ack``, push acks (at most one per ``ack_delay_s``), heartbeats, the columnar journal
  (four events or more), the ``send-ack`` request event and the push rows;
- ``bare``: ``peers_bare.py``: send, wait for ``send_ack`` (a request event), ack each
  push at once; no engine, no journal;
- ``tsung``: Tsung 1.7 (``peers_tsung.py``: send and wait for the next frame; no push acks,
  no pings), when ``tsung`` is installed (else a line says it was skipped), with the Erlang
  VM's default flags, and ``tsung-no-busy-wait`` with its schedulers' busy-waiting off
  (``+sbwt none``), measured from outside over the same window.

One JSON object per line (docs/architecture.md, "Benchmarks"): ``cpu_ms_per_1k_messages``
per tool (``imload``'s with ``baseline`` = the bare user's and ``ratio``, and with
``tsung_ratio`` against Tsung's when it ran; the issue's targets are both <= 1), the
messages per second each reached (the workload asks ``2 P / I``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from bench_generator import NODE_ARGS, emit  # noqa: E402
from generator_children import BODY  # noqa: E402
from peers_tsung import DOES as TSUNG_DOES  # noqa: E402
from peers_tsung import run_tsung  # noqa: E402

from imload.protocol import direct_conv  # noqa: E402

LOCUST = str(Path(sys.executable).with_name("locust"))
DOES = {"imload": "send, send_ack, retry timer, push acks (one per 0.2 s at most), "
                  "heartbeats, columnar journal (4+ events), Locust send-ack event and push rows",
        "bare": "send, wait for send_ack (a request event), ack each push at once",
        "tsung": TSUNG_DOES, "tsung-no-busy-wait": TSUNG_DOES + "; +sbwt none"}


def write_trace(path: Path, pairs: int, interval: float, seconds: float) -> int:
    """The workload as an imload trace: every device of every pair sends to its peer every
    ``interval`` on average (seeded jitter). Returns the number of sends."""
    import random
    rng = random.Random(14)
    lines = []
    for i in range(pairs):
        a, b = f"p{i}a", f"p{i}b"
        for me in (a, b):
            t = rng.uniform(0, interval)
            while t < seconds:
                lines.append({"t": round(t, 3), "user": me, "device": "d0", "action": "send",
                              "conv": direct_conv(a, b), "size": len(BODY)})
                t += rng.uniform(0.5 * interval, 1.5 * interval)
    lines.sort(key=lambda ln: ln["t"])
    path.write_text("".join(json.dumps(ln) + "\n" for ln in lines))
    return len(lines)


def run_locust(tool: str, files: str, extra: list[str], env: dict[str, str], devices: int,
               seconds: float, tmp: Path) -> dict[str, Any]:
    """One measured Locust run of ``tool``: the meter's figures (``peers_meter.py``)."""
    meter = tmp / f"meter-{tool}.json"
    meter.unlink(missing_ok=True)
    env = {**os.environ, **env, "PEERS_METER": str(meter), "PEERS_LEAD_S": f"{seconds / 6:g}",
           "PEERS_WINDOW_S": f"{seconds * 2 / 3:g}"}
    cmd = [LOCUST, "-f", files, "--headless", "-u", str(devices), "-r", str(devices), "-t",
           f"{seconds:g}s", "--stop-timeout", "5", "--only-summary", *extra]
    with open(tmp / f"locust-{tool}.log", "w") as log:
        p = subprocess.run(cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
                           timeout=seconds + 120)
    if not meter.exists():
        raise RuntimeError(f"{tool}: no figures (exit {p.returncode}); the end of its log:\n"
                           + (tmp / f"locust-{tool}.log").read_text()[-3000:])
    return dict(json.loads(meter.read_text()))


def contenders(url: str, secret: str, ns: argparse.Namespace,
               tmp: Path) -> dict[str, tuple[str, list[str], dict[str, str]]]:
    """Each tool's locustfiles, options and environment."""
    from imload.cluster.target import NodeSpec, Target, write_target
    target = tmp / "target.toml"
    write_target(Target(name="peers", secret=secret, nodes=[NodeSpec("n1", url)]), target)
    trace = tmp / "trace.jsonl"
    write_trace(trace, ns.pairs, ns.interval, ns.seconds + 30)  # outlasts the run
    meter = str(REPO / "benchmarks" / "peers_meter.py")
    return {
        "imload": (f"{REPO / 'locustfiles' / 'chat.py'},{meter}",
                   ["--imload-target", str(target), "--imload-trace", str(trace),
                    "--imload-journal", str(tmp / "journal"), "--imload-devices",
                    str(2 * ns.pairs)], {}),
        "bare": (f"{REPO / 'benchmarks' / 'peers_bare.py'},{meter}", [],
                 {"PEERS_URL": url, "PEERS_SECRET": secret,
                  "PEERS_INTERVAL": f"{ns.interval:g}"})}


def measure(ns: argparse.Namespace, tmp: Path) -> dict[str, list[dict[str, Any]]]:
    from imload.cluster import LocalCluster
    cluster = LocalCluster(tmp / "cluster", nodes=1, node_args=NODE_ARGS,
                           appendfsync="everysec")
    tsung = shutil.which("tsung") is not None
    runs: dict[str, list[dict[str, Any]]] = {"imload": [], "bare": []}
    if tsung:
        runs.update({"tsung": [], "tsung-no-busy-wait": []})
    try:
        cluster.start()
        url = cluster.node_url(cluster.node_names[0], direct=True)
        tools = contenders(url, cluster.secret, ns, tmp)
        for r in range(ns.rounds):
            for tool, (files, extra, env) in tools.items():
                run_id = ["--imload-run-id", f"pr{r}"] if tool == "imload" else []
                runs[tool].append(run_locust(tool, files, [*extra, *run_id],
                                             {**env, "PEERS_RUN": f"pb{r}x"},
                                             2 * ns.pairs, ns.seconds, tmp))
            for busy, tool in ((True, "tsung"), (False, "tsung-no-busy-wait")):
                if tsung:
                    runs[tool].append(run_tsung(
                        url, cluster.secret, cluster.redis_url, f"{tool[-1]}{r}", ns.pairs,
                        ns.interval, ns.seconds, tmp, BODY, busy_wait=busy))
    finally:
        cluster.stop()
    return runs


def per_1k(run: dict[str, Any]) -> float:
    return float(run["cpu_s"]) * 1e6 / max(int(run["messages"]), 1)


def report(ns: argparse.Namespace, runs: dict[str, list[dict[str, Any]]]) -> None:
    median = {tool: statistics.median(per_1k(r) for r in rs) for tool, rs in runs.items()}
    for tool, rs in runs.items():
        spread = {"runs": len(rs), "min": min(map(per_1k, rs)), "max": max(map(per_1k, rs))} \
            if len(rs) > 1 else {}
        base = {"baseline": median["bare"], "ratio": median[tool] / median["bare"],
                **({"tsung_ratio": median[tool] / median["tsung"]} if "tsung" in median
                   else {})} if tool == "imload" else {}
        emit("cpu_ms_per_1k_messages", median[tool], "cpu-ms/1000 messages", tool=tool,
             devices=2 * ns.pairs, does=DOES[tool], **base, **spread)
        rate = statistics.median(r["messages"] / r["window_s"] for r in rs)
        emit("messages_per_s", rate, "messages/s", tool=tool, asked=2 * ns.pairs / ns.interval)
    if "tsung" not in runs:
        print(json.dumps({"figure": "cpu_ms_per_1k_messages", "tool": "tsung",
                          "skipped": "tsung not installed (apt-get install tsung)"}),
              flush=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="25 pairs for 24 s")
    p.add_argument("--pairs", type=int, default=None, help="pairs of devices (100)")
    p.add_argument("--seconds", type=float, default=None, help="seconds per run (60)")
    p.add_argument("--interval", type=float, default=0.5, help="mean seconds between sends")
    p.add_argument("--rounds", type=int, default=1, help="runs per tool, alternating")
    ns = p.parse_args(argv)
    ns.pairs = ns.pairs or (25 if ns.quick else 100)
    ns.seconds = ns.seconds or (24.0 if ns.quick else 60.0)
    if ns.pairs < 1 or ns.seconds < 6 or ns.interval <= 0 or ns.rounds < 1:
        p.error("--pairs and --rounds must be >= 1, --seconds >= 6, --interval > 0")
    with tempfile.TemporaryDirectory(prefix="imload-bench-peers-") as tmp:
        runs = measure(ns, Path(tmp))
    report(ns, runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
