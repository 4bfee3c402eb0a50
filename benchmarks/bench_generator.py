"""How much load does one generator process make: devices held, memory, messages per core.

    .venv/bin/python benchmarks/bench_generator.py [--quick] [--devices N] [--pairs P]
                                                   [--seconds S] [--profile FILE]
                                                   [--pace S] [--journal-format F]

A private local cluster (3 nodes, admission limits raised: ``NODE_ARGS``) is
started; the generator runs in child processes of this script, each one plain
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
  ``ratio`` (target >= 0.4);
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
  flat-out run's and ``ratio`` (issue #14's target: <= 2);
- ``generator_cpu_per_message``: generator CPU-microseconds per complete
  message, per journal format (``--journal-format``; by default the message
  run is made twice, columnar with ``baseline`` = the same run journaling JSON
  lines, and ``ratio``: the columnar journal must not make a message dearer);
- ``journal_bytes_per_message``: the journal file's size per acked message.

``--profile FILE`` writes a pyinstrument profile of the message run (text).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from imload.journal.formats import WRITERS  # noqa: E402

NODE_ARGS = ["--max-conns", "40000", "--login-rate", "100000", "--login-burst", "100000",
             "--send-rate", "1000000", "--send-burst", "1000000", "--max-outbound", "1000000"]
WINDOW = 8
BODY = "hello there, how are you doing today?"


def emit(figure: str, value: float, unit: str, **extra: Any) -> None:
    print(json.dumps({"figure": figure, "value": round(value, 3), "unit": unit,
                      **{k: round(v, 3) if isinstance(v, float) else v
                         for k, v in extra.items()}}), flush=True)


def cpu_self() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


# ------------------------------------------------------------------ children

def _device(target: Any, user: str, device: str, urls: list[str], journal: Any,
            on_record: Any = None, seed: int = 0) -> Any:
    from imload.client import Backoff, DeviceEngine, EngineConfig
    from imload.drivers import GeventDevice, measure_wall_offset
    from imload.protocol import mint_token
    engine = DeviceEngine(user, device, mint_token(target["secret"], user, device), urls,
                          rng=random.Random(seed), backoff=Backoff("full_jitter", 0.5, 10.0),
                          config=EngineConfig(wall_offset=measure_wall_offset(),
                                              keep_display=False, fetch_marks=False))
    return GeventDevice(engine, journal, on_record=on_record)


def child_connect(target: dict[str, Any], n: int, rate: float, journal_dir: str) -> None:
    """Connect ``n`` devices, report how many got online, memory and idle CPU."""
    import gevent

    from imload.journal import JournalWriter
    journal = JournalWriter(journal_dir, f"connect-{os.getpid()}", flush_every=4096)
    gc.collect()
    base = rss_kib()
    t0 = time.monotonic()
    devices = []
    for i in range(n):
        d = _device(target, f"c{os.getpid()}x{i}", "d0", target["urls"], journal, seed=i)
        d.start()
        devices.append(d)
        if (i + 1) % 100 == 0:
            gevent.sleep(max(0.0, t0 + (i + 1) / rate - time.monotonic()))
    deadline = time.monotonic() + 120
    online = 0
    while time.monotonic() < deadline:
        online = sum(1 for d in devices if d.online)
        if online == n:
            break
        gevent.sleep(0.5)
    connect_s = time.monotonic() - t0
    gevent.sleep(2.0)
    gc.collect()
    grown = rss_kib() - base
    c0, w0 = cpu_self(), time.monotonic()
    gevent.sleep(10.0)
    idle = (cpu_self() - c0) / (time.monotonic() - w0)
    online_end = sum(1 for d in devices if d.online)
    errors = sum(len(d.errors) for d in devices)
    print(json.dumps({"online": online, "online_end": online_end, "connect_s": connect_s,
                      "rss_per_device_kib": grown / max(online, 1), "idle_cores": idle,
                      "errors": errors}), flush=True)
    journal.close()
    os._exit(0)


def child_messages(target: dict[str, Any], pairs: int, seconds: float, journal_dir: str,
                   profile: str | None, form: str, pace_s: float = 0.0) -> None:
    """Pairs of devices chat as fast as the window allows (``pace_s`` 0), or at a chat's
    pace: both devices of a pair send one message every ``pace_s`` seconds on average
    (uniform jitter, so each frame arrives alone: one wake-up per frame); count complete
    messages."""
    import gevent
    import gevent.event

    from imload.journal.formats import open_writer
    from imload.protocol import direct_conv
    journal = open_writer(journal_dir, f"messages-{os.getpid()}", form)
    flusher = gevent.spawn(_flush_every_second, journal)  # as the Locust processes do
    counts = {"acked": 0, "delivered": 0, "events": 0, "all_acked": 0}
    measuring = [False]
    senders = []
    for i in range(pairs):
        a, b = f"s{os.getpid()}x{i}", f"r{os.getpid()}x{i}"
        urls = [target["urls"][i % len(target["urls"])]]
        room = gevent.event.Event()
        room.set()

        def counter(other: str, room: Any) -> Any:
            def rec(ev: dict[str, Any]) -> None:  # one device's events; ``other``: its peer
                kind = ev["ev"]
                if kind == "send_ok":
                    room.set()
                    counts["all_acked"] += 1
                    if measuring[0]:
                        counts["acked"] += 1
                if measuring[0] and kind in ("send", "send_ok", "deliver"):
                    counts["events"] += 1
                    if kind == "deliver" and ev["from"] == other:
                        counts["delivered"] += 1
            return rec

        sd = _device(target, a, "d0", urls, journal, counter(b, room), seed=i)
        rd = _device(target, b, "d0", urls, journal, counter(a, gevent.event.Event()), seed=i)
        sd.start()
        rd.start()
        senders.append((sd, rd, direct_conv(a, b), room))
    for sd, rd, _, _ in senders:
        sd.wait_until(lambda sd=sd, rd=rd: sd.online and rd.online, 30)
    stop = [False]

    def pump(sd: Any, conv: str, room: Any) -> None:
        while not stop[0]:
            while sd.engine.pending_sends < WINDOW and not stop[0]:
                sd.send_message(conv, BODY)
            room.clear()
            room.wait(1.0)

    def paced(d: Any, conv: str, rnd: random.Random) -> None:
        gevent.sleep(rnd.uniform(0, pace_s))
        while not stop[0]:
            d.send_message(conv, BODY)
            gevent.sleep(rnd.uniform(0.5 * pace_s, 1.5 * pace_s))

    if pace_s > 0:  # both devices of each pair talk; the peer's deliveries count too
        greenlets = [gevent.spawn(paced, d, conv, random.Random(k))
                     for k, (sd, rd, conv, _) in enumerate(senders) for d in (sd, rd)]
    else:
        greenlets = [gevent.spawn(pump, sd, conv, room) for sd, _, conv, room in senders]
    gevent.sleep(2.0 if pace_s == 0 else max(2.0, 2 * pace_s))  # warm up
    profiler = None
    if profile:
        from pyinstrument import Profiler
        profiler = Profiler(async_mode="disabled")
        profiler.start()
    measuring[0] = True
    c0, w0 = cpu_self(), time.monotonic()
    gevent.sleep(seconds)
    measuring[0] = False
    cpu, wall = cpu_self() - c0, time.monotonic() - w0
    if profiler is not None:
        profiler.stop()
        Path(profile).write_text(profiler.output_text(unicode=False, color=False))  # type: ignore[arg-type]
    stop[0] = True
    gevent.joinall(greenlets, timeout=3)
    flusher.kill()
    journal.close()
    size = journal.path.stat().st_size
    print(json.dumps({**counts, "cpu_s": cpu, "wall_s": wall, "journal_bytes": size,
                      "journal_events": journal.count}), flush=True)
    os._exit(0)


def _flush_every_second(journal: Any) -> None:
    import gevent
    while True:
        gevent.sleep(1.0)
        journal.flush()


def child_echo(url: str, clients: int, seconds: float) -> None:
    """The raw ceiling: round trips through gevent + websocket-client, nothing else."""
    import gevent
    import gevent.lock

    from imload.drivers import open_websocket
    count = [0]
    measuring = [False]
    stop = [False]
    frame = json.dumps({"t": "send", "rid": 1, "cmid": "c1", "conv": "d:a:b", "body": BODY})

    def client() -> None:
        ws = open_websocket(url, gevent.lock.Semaphore(), connect_timeout_s=10.0)
        for _ in range(WINDOW):
            ws.send(frame)
        while not stop[0]:
            ws.recv_data_frame(False)
            if measuring[0]:
                count[0] += 1
            ws.send(frame)
        ws.shutdown()

    greenlets = [gevent.spawn(client) for _ in range(clients)]
    gevent.sleep(2.0)
    measuring[0] = True
    c0, w0 = cpu_self(), time.monotonic()
    gevent.sleep(seconds)
    measuring[0] = False
    cpu, wall = cpu_self() - c0, time.monotonic() - w0
    stop[0] = True
    gevent.joinall(greenlets, timeout=2)
    print(json.dumps({"round_trips": count[0], "cpu_s": cpu, "wall_s": wall}), flush=True)
    os._exit(0)


def echo_server(port: int) -> None:
    import asyncio

    from websockets.asyncio.server import serve

    async def echo(ws: Any) -> None:
        async for msg in ws:
            await ws.send(msg)

    async def main() -> None:
        async with serve(echo, "127.0.0.1", port, compression=None, ping_interval=None,
                         max_queue=1024):
            await asyncio.Future()

    try:
        import uvloop
        uvloop.run(main())
    except ImportError:
        asyncio.run(main())


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


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="a smaller, shorter run (~1 min)")
    p.add_argument("--devices", type=int, default=None, help="devices to connect (15000)")
    p.add_argument("--pairs", type=int, default=None, help="chatting pairs (100)")
    p.add_argument("--seconds", type=float, default=None, help="measured seconds per run")
    p.add_argument("--profile", default=None, metavar="FILE",
                   help="write a pyinstrument profile of the message run to FILE (and of "
                        "the paced run to FILE.paced)")
    p.add_argument("--journal-format", choices=(*WRITERS, "both"), default="both",
                   help="the message run's journal format; both (default): the run twice, "
                        "columnar measured against jsonl")
    p.add_argument("--pace", type=float, default=0.5, metavar="SECONDS",
                   help="the paced run: each device of a pair sends every SECONDS on "
                        "average (default 0.5; 0 skips it)")
    p.add_argument("--child", nargs="*", help=argparse.SUPPRESS)
    ns = p.parse_args(argv)
    if ns.child:
        kind, *rest = ns.child
        if kind == "connect":
            child_connect(json.loads(rest[0]), int(rest[1]), float(rest[2]), rest[3])
        elif kind == "messages":
            child_messages(json.loads(rest[0]), int(rest[1]), float(rest[2]), rest[3],
                           rest[4] or None, rest[5], float(rest[6]))
        elif kind == "echo":
            child_echo(rest[0], int(rest[1]), float(rest[2]))
        elif kind == "echo-server":
            echo_server(int(rest[0]))
        return 0
    devices = ns.devices or (2000 if ns.quick else 15000)
    pairs = ns.pairs or (50 if ns.quick else 100)
    seconds = ns.seconds or (4.0 if ns.quick else 10.0)

    from imload.cluster import LocalCluster
    with tempfile.TemporaryDirectory(prefix="imload-bench-gen-") as tmp:
        cluster = LocalCluster(Path(tmp) / "cluster", nodes=3, node_args=NODE_ARGS,
                               appendfsync="everysec")
        try:
            cluster.start()
            urls = [cluster.node_url(n, direct=True) for n in cluster.node_names]
            target = json.dumps({"secret": cluster.secret, "urls": urls})
            conn = run_child("connect", target, str(devices), "2500", f"{tmp}/journal")
            forms = list(WRITERS) if ns.journal_format == "both" else [ns.journal_format]
            runs = {form: run_child("messages", target, str(pairs), str(seconds),
                                    f"{tmp}/journal-{form}", ns.profile or "", form, "0")
                    for form in forms}
            msgs = runs[forms[0]]
            paced = run_child("messages", target, str(pairs), str(max(seconds, 10 * ns.pace)),
                              f"{tmp}/journal-paced",
                              f"{ns.profile}.paced" if ns.profile else "", forms[0],
                              str(ns.pace)) \
                if ns.pace > 0 else None
        finally:
            cluster.stop()
        port = free_port()
        server = subprocess.Popen([sys.executable, __file__, "--child", "echo-server",
                                   str(port)], cwd=REPO)
        try:
            time.sleep(1.5)
            echo = run_child("echo", f"ws://127.0.0.1:{port}/", str(pairs * 2), str(seconds))
        finally:
            server.terminate()
            server.wait(10)
    emit("devices_connected_per_process", conn["online"], "devices", asked=devices,
         still_online_after_10s=conn["online_end"])
    emit("memory_per_device", conn["rss_per_device_kib"], "KiB")
    emit("connect_rate", conn["online"] / conn["connect_s"], "devices/s")
    emit("idle_cpu_per_1k_devices", conn["idle_cores"] * 1000 / max(conn["online"], 1),
         "cores")
    ceiling = echo["round_trips"] / echo["cpu_s"]
    emit("raw_ws_round_trips_per_core", ceiling, "round trips/cpu-s",
         connections=pairs * 2, window=WINDOW)
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
    flat_us = msgs["cpu_s"] * 1e6 / max(complete, 1)
    if paced is not None:  # a chat's pace: every frame wakes the process on its own
        paced_done = min(paced["acked"], paced["delivered"])
        paced_us = paced["cpu_s"] * 1e6 / max(paced_done, 1)
        emit("paced_cpu_per_message", paced_us, "cpu-us/message", baseline=flat_us,
             ratio=paced_us / flat_us, pace_s=ns.pace, devices=pairs * 2,
             messages_per_s=paced_done / paced["wall_s"])
    for form, run in runs.items():  # what a message costs, by journal format
        cpu_us = run["cpu_s"] * 1e6 / max(min(run["acked"], run["delivered"]), 1)
        jsonl = runs.get("jsonl")
        base = jsonl["cpu_s"] * 1e6 / max(min(jsonl["acked"], jsonl["delivered"]), 1) \
            if jsonl else None
        emit("generator_cpu_per_message", cpu_us, "cpu-us/message", journal_format=form,
             **({"baseline": base, "ratio": cpu_us / base} if base else {}))
        emit("journal_bytes_per_message", run["journal_bytes"] / max(run["all_acked"], 1),
             "bytes/message", journal_format=form,
             bytes_per_event=run["journal_bytes"] / max(run["journal_events"], 1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
