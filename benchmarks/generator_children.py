"""The generator's side of bench_generator.py: the processes it starts with ``--child``.

- ``connect``: connect N devices, report how many got online, memory and idle CPU;
- ``messages``: pairs of devices chat through the cluster, flat out or at a chat's pace,
  journaled as a Locust process journals (``_chat_pairs``, ``_talk``);
- ``echo`` / ``echo-server``: the raw ceiling, WebSocket round trips through gevent and
  websocket-client against a bare ``websockets`` echo server;
- ``replay``: a message run's journal written again by each journal format's writer, in
  turn, as the run wrote it (its flushes as often as the run's, once a second): what
  journaling alone costs per event, the rest of the process as it was.

Each prints one JSON object (its counts and CPU) and exits at once (``run``): no teardown
of thousands of greenlets and sockets.
"""

from __future__ import annotations

import gc
import json
import os
import random
import resource
import time
from pathlib import Path
from typing import Any

WINDOW = 8
BODY = "hello there, how are you doing today?"


def run(kind: str, rest: list[str]) -> None:
    """Run child ``kind`` with its command-line arguments ``rest``, then exit."""
    if kind == "connect":
        child_connect(json.loads(rest[0]), int(rest[1]), float(rest[2]), rest[3])
    elif kind == "messages":
        child_messages(json.loads(rest[0]), int(rest[1]), float(rest[2]), rest[3],
                       rest[4] or None, rest[5], float(rest[6]),
                       e2e=len(rest) > 7 and rest[7] == "1")
    elif kind == "echo":
        child_echo(rest[0], int(rest[1]), float(rest[2]), float(rest[3]) if rest[3:] else 0.0)
    elif kind == "echo-server":
        echo_server(int(rest[0]))
    elif kind == "replay":
        child_replay(Path(rest[0]), float(rest[1]), int(rest[2]), rest[3])
    os._exit(0)


def cpu_self() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _device(target: Any, user: str, device: str, urls: list[str], journal: Any,
            on_record: Any = None, seed: int = 0, e2e: bool = False) -> Any:
    from imload.client import Backoff, DeviceEngine, EngineConfig
    from imload.client.e2e import Sealer, directory
    from imload.drivers import GeventDevice, measure_wall_offset
    from imload.protocol import mint_token
    engine = DeviceEngine(user, device, mint_token(target["secret"], user, device), urls,
                          rng=random.Random(seed), backoff=Backoff("full_jitter", 0.5, 10.0),
                          config=EngineConfig(wall_offset=measure_wall_offset(),
                                              keep_display=False, fetch_marks=False),
                          sealer=Sealer(directory(1), user) if e2e else None)
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


def _chat_pairs(target: dict[str, Any], pairs: int, journal: Any, counts: dict[str, int],
                measuring: list[bool], e2e: bool = False) -> list[tuple[Any, Any, str, Any]]:
    """``pairs`` pairs of devices, online, each counting its sends, acks and deliveries
    into ``counts`` (while ``measuring``; ``undecryptable`` copies apart): (sender,
    receiver, conv, the sender's room). ``e2e``: the devices seal their bodies."""
    import gevent.event

    from imload.protocol import direct_conv

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
                    counts["undecryptable"] += ev.get("undecryptable") is True
        return rec

    senders = []
    for i in range(pairs):
        a, b = f"s{os.getpid()}x{i}", f"r{os.getpid()}x{i}"
        urls = [target["urls"][i % len(target["urls"])]]
        room = gevent.event.Event()
        room.set()
        sd = _device(target, a, "d0", urls, journal, counter(b, room), seed=i, e2e=e2e)
        rd = _device(target, b, "d0", urls, journal, counter(a, gevent.event.Event()), seed=i,
                     e2e=e2e)
        sd.start()
        rd.start()
        senders.append((sd, rd, direct_conv(a, b), room))
    for sd, rd, _, _ in senders:
        sd.wait_until(lambda sd=sd, rd=rd: sd.online and rd.online, 30)
    return senders


def _talk(senders: list[tuple[Any, Any, str, Any]], pace_s: float, stop: list[bool]) -> list[Any]:
    """The greenlets that send: flat out (``WINDOW`` in flight per pair), or both devices
    of each pair one message every ``pace_s`` on average (uniform jitter)."""
    import gevent

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
        return [gevent.spawn(paced, d, conv, random.Random(k))
                for k, (sd, rd, conv, _) in enumerate(senders) for d in (sd, rd)]
    return [gevent.spawn(pump, sd, conv, room) for sd, _, conv, room in senders]


def child_messages(target: dict[str, Any], pairs: int, seconds: float, journal_dir: str,
                   profile: str | None, form: str, pace_s: float = 0.0,
                   e2e: bool = False) -> None:
    """Pairs of devices chat as fast as the window allows (``pace_s`` 0), or at a chat's
    pace: both devices of a pair send one message every ``pace_s`` seconds on average
    (uniform jitter, so each frame arrives alone: one wake-up per frame); count complete
    messages."""
    import gevent

    from imload.journal.formats import open_writer
    journal = open_writer(journal_dir, f"messages-{os.getpid()}", form)
    flusher = gevent.spawn(_flush_every_second, journal)  # as the Locust processes do
    counts = {"acked": 0, "delivered": 0, "events": 0, "all_acked": 0, "undecryptable": 0}
    measuring = [False]
    stop = [False]
    greenlets = _talk(_chat_pairs(target, pairs, journal, counts, measuring, e2e), pace_s,
                      stop)
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


def _flush_every_second(journal: Any) -> None:
    import gevent
    while True:
        gevent.sleep(1.0)
        journal.flush()


def child_echo(url: str, clients: int, seconds: float, pace_s: float = 0.0) -> None:
    """``clients`` connections for ``seconds``: ``WINDOW`` frames in flight each (flat out),
    or with ``pace_s`` one frame at a time every ``pace_s`` on average (uniform jitter, as
    the paced message run), each echo awaited; prints the round trips and the CPU they
    took."""
    import gevent
    import gevent.lock

    from imload.drivers import open_websocket
    count = [0]
    measuring = [False]
    stop = [False]
    frame = json.dumps({"t": "send", "rid": 1, "cmid": "c1", "conv": "d:a:b", "body": BODY})

    def client(rnd: random.Random) -> None:
        ws = open_websocket(url, gevent.lock.Semaphore(), connect_timeout_s=10.0)
        if pace_s > 0:
            gevent.sleep(rnd.uniform(0, pace_s))
        for _ in range(1 if pace_s > 0 else WINDOW):
            ws.send(frame)
        while not stop[0]:
            ws.recv_data_frame(False)
            if measuring[0]:
                count[0] += 1
            if pace_s > 0:
                gevent.sleep(rnd.uniform(0.5 * pace_s, 1.5 * pace_s))
            ws.send(frame)
        ws.shutdown()

    greenlets = [gevent.spawn(client, random.Random(k)) for k in range(clients)]
    gevent.sleep(2.0 + 2 * pace_s)
    measuring[0] = True
    c0, w0 = cpu_self(), time.monotonic()
    gevent.sleep(seconds)
    measuring[0] = False
    cpu, wall = cpu_self() - c0, time.monotonic() - w0
    stop[0] = True
    gevent.joinall(greenlets, timeout=2 + 2 * pace_s)
    print(json.dumps({"round_trips": count[0], "cpu_s": cpu, "wall_s": wall}), flush=True)


def echo_server(port: int) -> None:
    import asyncio

    from websockets.asyncio.server import serve
    from websockets.exceptions import ConnectionClosed

    async def echo(ws: Any) -> None:
        try:
            async for msg in ws:
                await ws.send(msg)
        except ConnectionClosed:  # the client child ends with os._exit: no close frame
            pass

    async def main() -> None:
        async with serve(echo, "127.0.0.1", port, compression=None, ping_interval=None,
                         max_queue=1024):
            await asyncio.Future()

    try:
        import uvloop
        uvloop.run(main())
    except ImportError:
        asyncio.run(main())


def child_replay(journal: Path, per_second: float, rounds: int, scratch: str) -> None:
    """The events of ``journal`` (a folder) written ``rounds`` times by every writer of
    ``formats.WRITERS`` in turn, with a ``flush()`` every ``per_second`` events (a second of
    the run); CPU-microseconds per event, every round."""
    from imload.journal import read_journal
    from imload.journal.formats import WRITERS
    events = read_journal(journal).events
    every = max(int(per_second), 1)
    us: dict[str, list[float]] = {form: [] for form in WRITERS}
    for r in range(rounds):
        for form, writer in WRITERS.items():
            gc.collect()
            c0 = cpu_self()
            with writer(f"{scratch}/{form}-{r}", "replay") as w:
                for n, e in enumerate(events, 1):
                    w.write(e)
                    if n % every == 0:
                        w.flush()
            us[form].append((cpu_self() - c0) * 1e6 / max(len(events), 1))
    print(json.dumps({"events": len(events), "us_per_event": us}), flush=True)
