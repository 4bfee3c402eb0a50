"""How much load does one generator process make: devices held, memory, messages per core.

    .venv/bin/python benchmarks/bench_generator.py [--quick] [--devices N] [--pairs P]
                                                   [--seconds S] [--profile FILE]
                                                   [--pace S] [--journal-format F]
                                                   [--rounds N] [--e2e]

A private local cluster (3 nodes, admission limits raised: ``NODE_ARGS``) is
started; the generator runs in child processes of this script (``--child``, the code
in ``generator_children.py``), each one plain
gevent + websocket-client with the real ``DeviceEngine``, ``GeventDevice`` and a
journal file, as in a Locust worker (Locust's own bookkeeping aside). Devices
dial the nodes directly, not through Toxiproxy (which would need two file
descriptors per connection). Figures, one JSON object per line (docs/architecture.md,
"Benchmarks"):

- ``devices_connected_per_process``: devices online at once in one process
  (target >= 15,000; the process may open 20,000 files here);
- ``memory_per_device``: the process's RSS growth per connected device (KiB;
  target <= 100);
- ``connect_rate``: devices logged in per second while they connected;
- ``idle_cpu_per_1k_devices``: CPU the connected, idle devices use (heartbeats);
- ``raw_ws_round_trips_per_core``: the ceiling: round trips per generator
  CPU-second of gevent + websocket-client against a bare ``websockets`` echo
  server, with the same number of connections and window;
- ``messages_per_core``: messages sent, acked and delivered to the peer device
  per generator CPU-second, pairs of devices chatting through the reference
  cluster (every message is a send, an ack, a push to the peer, a push to the
  sender's own inbox, journaled), with ``baseline`` = the raw ceiling and
  ``ratio`` (issue #14's target: >= 0.5; a message is four frames or more, two round
  trips' worth of the ceiling's, so 0.5 leaves nothing for anything but the frames);
- ``im_events_per_core``: the same run counted as the journal counts it: every
  ``send``, ``send_ok`` and ``deliver`` (on both devices) per generator
  CPU-second, with ``baseline`` and ``ratio`` as above (target >= 0.4);
- ``messages_per_s``: the same messages per wall second (bounded by the
  cluster on this machine, not by the generator);
- ``generator_cpu_util``: the generator's CPU use during that run (cores).

- ``paced_cpu_per_message``: the regime users run (``--pace``, default 0.5 s):
  the same pairs, both devices sending one message every 0.5 s on average with
  jitter, so every frame arrives alone and wakes the process on its own;
  generator CPU-microseconds per complete message, with ``baseline`` = the
  flat-out run's and ``ratio`` (issue #14's target: <= 2), and ``raw_ratio``, the same
  ratio for the bare transport (below);
- ``raw_paced_round_trip_cpu``: the ceiling's client at that pace: each connection sends
  one frame every ``--pace`` on average and awaits its echo (gevent + websocket-client,
  nothing else); CPU-microseconds per round trip, with ``baseline`` = the flat-out
  ceiling's and ``ratio``: what waking up for every frame costs the transport alone;
- ``generator_cpu_per_message``: generator CPU-microseconds per complete
  message, per journal format (``--journal-format``; by default the message
  run is made twice, columnar with ``baseline`` = the same run journaling JSON
  lines, and ``ratio``: the columnar journal must not make a message dearer);
- ``journal_bytes_per_message``: the journal file's size per acked message;
- ``journal_write_cpu_per_message``: journaling alone: the first flat-out run's events
  written again in a child by each format's writer in turn (``--rounds`` times, flushed
  about as often as that run flushed), CPU-microseconds per message (the median round),
  with ``baseline`` = JSON lines' and ``ratio``, and ``per_event``. What the writer
  costs beside the rest of a generator (the garbage collector's share, the cache it
  takes) is in ``generator_cpu_per_message``; this is the writer's own.

- with ``--e2e`` (end-to-end encrypted bodies, docs/e2e.md):
  ``generator_cpu_per_message_e2e``, the flat-out message run again with every device
  sealing what it sends and opening what it gets, with ``baseline`` = the same run
  without (the first journal format) and ``ratio``; and ``e2e_seal_open_us``, one seal
  plus one open of the run's body in this process (the AEAD's share of that).

``--profile FILE`` writes a pyinstrument profile of the message run (text).
``--rounds N`` makes the message runs (flat out and paced) N times, alternating, as a
machine others load drifts between runs (the two journal formats' order swapped every
round: the first of a pair runs against a cluster the other has not yet loaded): each
figure is then the run of median CPU per message, with ``runs``, ``min`` and ``max`` of
the CPU per message.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import generator_children  # noqa: E402
from generator_children import WINDOW  # noqa: E402

from imload.journal.formats import WRITERS  # noqa: E402

NODE_ARGS = ["--max-conns", "40000", "--login-rate", "100000", "--login-burst", "100000",
             "--send-rate", "1000000", "--send-burst", "1000000", "--max-outbound", "1000000"]


def emit(figure: str, value: float, unit: str, **extra: Any) -> None:
    print(json.dumps({"figure": figure, "value": round(value, 3), "unit": unit,
                      **{k: round(v, 3) if isinstance(v, float) else v
                         for k, v in extra.items()}}), flush=True)


# ------------------------------------------------------------------ parent

def run_child(*args: str, timeout: float = 600) -> dict[str, Any]:
    p = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True,
                       text=True, timeout=timeout, cwd=REPO)
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("{")]
    if not lines:
        raise RuntimeError(f"child {args[0]} failed (exit {p.returncode}):\n{p.stderr[-3000:]}")
    return json.loads(lines[-1])


def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="a smaller, shorter run (~1 min)")
    p.add_argument("--devices", type=int, default=None, help="devices to connect (15000)")
    p.add_argument("--pairs", type=int, default=None, help="chatting pairs (100)")
    p.add_argument("--seconds", type=float, default=None, help="measured seconds per run")
    p.add_argument("--rounds", type=int, default=1, metavar="N",
                   help="make the message runs N times, alternating; figures are medians "
                        "(with min and max)")
    p.add_argument("--profile", default=None, metavar="FILE",
                   help="write a pyinstrument profile of the message run to FILE (and of "
                        "the paced run to FILE.paced)")
    p.add_argument("--journal-format", choices=(*WRITERS, "both"), default="both",
                   help="the message run's journal format; both (default): the run twice, "
                        "columnar measured against jsonl")
    p.add_argument("--pace", type=float, default=0.5, metavar="SECONDS",
                   help="the paced run: each device of a pair sends every SECONDS on "
                        "average (default 0.5; 0 skips it)")
    p.add_argument("--e2e", action="store_true",
                   help="also measure the message run with end-to-end encrypted bodies")
    p.add_argument("--child", nargs="*", help=argparse.SUPPRESS)
    return p


def _cpu_us(run: dict[str, Any]) -> float:
    """Generator CPU-microseconds per complete (acked and delivered) message of a run."""
    return float(run["cpu_s"]) * 1e6 / max(min(run["acked"], run["delivered"]), 1)


def _median(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run of median CPU per message (its figures), with ``us`` = every run's."""
    ranked = sorted(runs, key=_cpu_us)
    return {**ranked[(len(ranked) - 1) // 2], "us": [_cpu_us(r) for r in ranked]}


def _spread(run: dict[str, Any]) -> dict[str, Any]:
    us = run["us"]
    return {"runs": len(us), "min": min(us), "max": max(us)} if len(us) > 1 else {}


def _measure(ns: argparse.Namespace, devices: int, pairs: int, seconds: float,
             tmp: str) -> dict[str, Any]:
    """Every child run against one private cluster, then the echo ceiling."""
    from imload.cluster import LocalCluster
    cluster = LocalCluster(Path(tmp) / "cluster", nodes=3, node_args=NODE_ARGS,
                           appendfsync="everysec")
    forms = list(WRITERS) if ns.journal_format == "both" else [ns.journal_format]
    flat: dict[str, list[dict[str, Any]]] = {form: [] for form in forms}
    paced: list[dict[str, Any]] = []
    sealed: list[dict[str, Any]] = []
    try:
        cluster.start()
        urls = [cluster.node_url(n, direct=True) for n in cluster.node_names]
        target = json.dumps({"secret": cluster.secret, "urls": urls})
        conn = run_child("connect", target, str(devices), "2500", f"{tmp}/journal")
        for r in range(ns.rounds):  # alternating: a loaded machine drifts between runs,
            for form in forms[::-1] if r % 2 else forms:  # and the first of a pair differs
                flat[form].append(run_child("messages", target, str(pairs), str(seconds),
                                            f"{tmp}/journal-{form}-{r}", ns.profile or "",
                                            form, "0"))
            if ns.e2e:  # the same flat-out run, every body sealed and opened
                sealed.append(run_child("messages", target, str(pairs), str(seconds),
                                        f"{tmp}/journal-e2e-{r}", "", forms[0], "0", "1"))
            if ns.pace > 0:  # a chat's pace: every frame wakes the process on its own
                paced.append(run_child(
                    "messages", target, str(pairs), str(max(seconds, 10 * ns.pace)),
                    f"{tmp}/journal-paced-{r}", f"{ns.profile}.paced" if ns.profile else "",
                    forms[0], str(ns.pace)))
    finally:
        cluster.stop()
    first = flat[forms[0]][0]
    replay = run_child("replay", f"{tmp}/journal-{forms[0]}-0",
                       str(first["journal_events"] / first["wall_s"]), str(ns.rounds),
                       f"{tmp}/replay")
    replay["events_per_message"] = first["journal_events"] / max(first["all_acked"], 1)
    port = free_port()
    server = subprocess.Popen([sys.executable, __file__, "--child", "echo-server", str(port)],
                              cwd=REPO)
    try:
        time.sleep(1.5)
        echo = run_child("echo", f"ws://127.0.0.1:{port}/", str(pairs * 2), str(seconds))
        echo_paced = run_child("echo", f"ws://127.0.0.1:{port}/", str(pairs * 2),
                               str(max(seconds, 10 * ns.pace)), str(ns.pace)) \
            if ns.pace > 0 else None
    finally:
        server.terminate()
        server.wait(10)
    return {"conn": conn, "echo": echo, "echo_paced": echo_paced, "replay": replay,
            "runs": {f: _median(v) for f, v in flat.items()},
            "paced": _median(paced) if paced else None,
            "e2e": _median(sealed) if sealed else None}


def seal_open_us(n: int = 20000) -> float:
    """Microseconds of one seal and one open of the benchmark's body (keys derived once)."""
    from imload.client.e2e import KeyDirectory, Sealer
    from imload.protocol import direct_conv
    keys = KeyDirectory(1)
    conv = direct_conv("alice", "bob")
    alice, bob = Sealer(keys, "alice"), Sealer(keys, "bob")
    bob.open(conv, "alice", alice.seal(conv, "warm", generator_children.BODY))
    t0 = time.process_time()
    for i in range(n):
        assert bob.open(conv, "alice", alice.seal(conv, f"c{i}", generator_children.BODY))
    return (time.process_time() - t0) * 1e6 / n


def _report(ns: argparse.Namespace, devices: int, pairs: int, m: dict[str, Any]) -> None:
    conn, echo, runs, paced = m["conn"], m["echo"], m["runs"], m["paced"]
    emit("devices_connected_per_process", conn["online"], "devices", asked=devices,
         still_online_after_10s=conn["online_end"])
    emit("memory_per_device", conn["rss_per_device_kib"], "KiB")
    emit("connect_rate", conn["online"] / conn["connect_s"], "devices/s")
    emit("idle_cpu_per_1k_devices", conn["idle_cores"] * 1000 / max(conn["online"], 1),
         "cores")
    ceiling = echo["round_trips"] / echo["cpu_s"]
    emit("raw_ws_round_trips_per_core", ceiling, "round trips/cpu-s",
         connections=pairs * 2, window=WINDOW)
    msgs = next(iter(runs.values()))
    complete = min(msgs["acked"], msgs["delivered"])
    per_core = complete / msgs["cpu_s"]
    emit("messages_per_core", per_core, "messages/cpu-s", baseline=ceiling,
         ratio=per_core / ceiling)
    events = msgs["events"] / msgs["cpu_s"]
    emit("im_events_per_core", events, "sent+acked+delivered/cpu-s", baseline=ceiling,
         ratio=events / ceiling)
    emit("messages_per_s", complete / msgs["wall_s"], "messages/s", pairs=pairs,
         window=WINDOW)
    emit("generator_cpu_util", msgs["cpu_s"] / msgs["wall_s"], "cores")
    if paced is not None:
        paced_done = min(paced["acked"], paced["delivered"])
        raw_paced = m["echo_paced"]
        flat_us = echo["cpu_s"] * 1e6 / max(echo["round_trips"], 1)
        paced_us = raw_paced["cpu_s"] * 1e6 / max(raw_paced["round_trips"], 1)
        emit("raw_paced_round_trip_cpu", paced_us, "cpu-us/round trip", baseline=flat_us,
             ratio=paced_us / flat_us, pace_s=ns.pace, connections=pairs * 2)
        emit("paced_cpu_per_message", _cpu_us(paced), "cpu-us/message",
             baseline=_cpu_us(msgs), ratio=_cpu_us(paced) / _cpu_us(msgs), pace_s=ns.pace,
             devices=pairs * 2, messages_per_s=paced_done / paced["wall_s"],
             raw_ratio=paced_us / flat_us, **_spread(paced))
    sealed = m["e2e"]
    if sealed is not None:
        plain = runs[next(iter(runs))]
        emit("generator_cpu_per_message_e2e", _cpu_us(sealed), "cpu-us/message",
             baseline=_cpu_us(plain), ratio=_cpu_us(sealed) / _cpu_us(plain),
             undecryptable=sealed["undecryptable"], **_spread(sealed))
        emit("e2e_seal_open_us", seal_open_us(), "cpu-us/message")
    jsonl = runs.get("jsonl")
    for form, run in runs.items():  # what a message costs, by journal format
        base = {"baseline": _cpu_us(jsonl), "ratio": _cpu_us(run) / _cpu_us(jsonl)} \
            if jsonl else {}
        emit("generator_cpu_per_message", _cpu_us(run), "cpu-us/message",
             journal_format=form, **base, **_spread(run))
        emit("journal_bytes_per_message", run["journal_bytes"] / max(run["all_acked"], 1),
             "bytes/message", journal_format=form,
             bytes_per_event=run["journal_bytes"] / max(run["journal_events"], 1))
    _report_replay(m["replay"])


def _report_replay(replay: dict[str, Any]) -> None:
    per_event = {form: sorted(us)[(len(us) - 1) // 2]
                 for form, us in replay["us_per_event"].items()}
    ev = replay["events_per_message"]
    base = per_event.get("jsonl")
    for form, us in per_event.items():
        spread = replay["us_per_event"][form]
        emit("journal_write_cpu_per_message", us * ev, "cpu-us/message", journal_format=form,
             per_event=us, events=replay["events"],
             **({"baseline": base * ev, "ratio": us / base} if base else {}),
             **({"runs": len(spread), "min": min(spread) * ev, "max": max(spread) * ev}
                if len(spread) > 1 else {}))


def main(argv: list[str] | None = None) -> int:
    ns = _parser().parse_args(argv)
    if ns.child:
        generator_children.run(ns.child[0], ns.child[1:])
    if ns.rounds < 1:
        raise SystemExit("bench_generator: --rounds must be >= 1")
    devices = ns.devices or (2000 if ns.quick else 15000)
    pairs = ns.pairs or (50 if ns.quick else 100)
    seconds = ns.seconds or (4.0 if ns.quick else 10.0)
    with tempfile.TemporaryDirectory(prefix="imload-bench-gen-") as tmp:
        measured = _measure(ns, devices, pairs, seconds, tmp)
    _report(ns, devices, pairs, measured)
    return 0


if __name__ == "__main__":
    sys.exit(main())
