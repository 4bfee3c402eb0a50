"""How many messages per CPU-second the generator makes over XMPP, against Prosody.

    .venv/bin/python benchmarks/bench_xmpp.py [--quick] [--pairs N] [--seconds S]
                                              [--window W] [--profile FILE] [--parts]
                                              [--no-baseline]

A private Prosody (``ProsodyCluster`` in a temporary directory, stopped in any case,
also on Ctrl-C) is started; the devices run in this process under gevent, each one
the real ``DeviceEngine`` + ``GeventDevice`` + the ``xmpp`` adapter + a journal
file, as in a Locust worker. They dial Prosody's websocket directly, not through
Toxiproxy (which would add a third process to the two CPUs). Each of ``N`` pairs is
two fresh accounts (lowercase, unique per run: ``b<pid>x<i>a``/``b<pid>x<i>b``,
created by in-band registration at the first login); once all are online every
device sends to its peer as fast as a window of ``WINDOW`` (8, ``--window``)
unacknowledged messages allows (a message is acked when Prosody's XEP-0198
``<a h/>`` covers it). After a warm-up the measured window starts. Figures, one
JSON object per line (docs/architecture.md, "Benchmarks"):

- ``xmpp_messages_per_core``: messages acked and delivered to the peer device per
  CPU-second of this process (user + sys, the window only), with ``baseline`` = the
  raw ceiling of ``bench_generator.py`` (round trips per CPU-second of gevent +
  websocket-client against a bare echo server, same connections and window; its own
  children, unless ``--no-baseline``) and ``ratio``; the context also counts the
  websocket frames per message each way and the inbound frames by element;
- ``xmpp_messages_per_s``: the same messages per wall second;
- ``generator_cpu_util``: this process's CPU use over the window (cores), with the
  whole machine's (``host_cpu_util``, from /proc/stat) and its core count: Prosody
  and the generator share the CPUs;
- ``server_cpu_util``: Prosody's CPU use over the window (cores; /proc/PID/stat).
  Prosody runs one Lua thread: near 1.0 it is saturated.

``--profile FILE`` writes a pyinstrument profile (text) of the measured window,
sampled on this process's CPU clock (``time.process_time``: time spent waiting for
the server is not in it), and the figure ``profile_share`` gives that CPU time by
part (XML parsing, building, SCRAM, the adapter, the engine, the driver, journal,
gevent, ...) from each frame's self time; the message figures of a profiled run
are lower than an unprofiled run's. The sampler reads the CPU clock at every Python
call, which weighs call-heavy Python code more than C (lxml, libev, syscalls): for
shares without that bias, ``--parts`` times a few entry points instead (``Parts``)
and gives ``cpu_share_by_part`` and the CPU microseconds per message.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from bench_generator import cpu_self, emit  # noqa: E402 - the same JSON lines, the same clock

WINDOW = 8
BODY = "hello there, how are you doing today?"
CONNECT_TIMEOUT_S = 90.0


def cpu_of(pid: int | None) -> float | None:
    """CPU seconds (utime + stime) process ``pid`` has used, from /proc; None if gone."""
    if pid is None:
        return None
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()  # after "pid (comm) ": field 3 on
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def host_busy() -> float:
    """CPU seconds all cores of the machine have been busy (not idle or iowait)."""
    with open("/proc/stat") as f:
        ticks = [int(x) for x in f.readline().split()[1:]]
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)
    return (sum(ticks[:8]) - idle) / os.sysconf("SC_CLK_TCK")


# ------------------------------------------------------------------ measuring

class FrameCount:
    """Counts the websocket messages through one adapter each way (and inbound by their
    first bytes), by wrapping the instance's encode/output/decode: no file is changed."""

    def __init__(self) -> None:
        self.on = False
        self.out = 0
        self.heads: Counter[bytes] = Counter()

    @property
    def into(self) -> int:
        return sum(self.heads.values())

    def kinds(self) -> dict[str, int]:
        """Inbound messages by element name (``message``, ``a``, ``r``, ...)."""
        named: Counter[str] = Counter()
        for head, n in self.heads.items():
            name = head.lstrip(b"<").replace(b"/", b" ").replace(b">", b" ").split(b" ")[0]
            named[name.decode("ascii", "replace")] += n
        return dict(named.most_common(8))

    def wrap(self, ad: Any) -> None:
        encode, output, decode = ad.encode, ad.output, ad.decode
        heads = self.heads

        def counted_encode(frame: dict[str, Any], now: float) -> Any:
            got = encode(frame, now)
            if self.on:
                self.out += len(got)
            return got

        def counted_output() -> Any:
            got = output()
            if self.on:
                self.out += len(got)
            return got

        def counted_decode(payload: bytes, now: float) -> Any:
            if self.on:
                heads[bytes(payload[:10])] += 1
            return decode(payload, now)

        ad.encode, ad.output, ad.decode = counted_encode, counted_output, counted_decode


class Parts:
    """``--parts``: this thread's CPU time inside a few entry points, by wrapping them
    (about 0.5 us per wrapped call, far less than a sampling profiler's per-call cost).
    ``sub`` parts run inside an outer part and are subtracted from it in ``shares``."""

    SUB = {"xml parse (lxml, parsing.parse)": "adapter decode (parse + dispatch)",
           "xml build (build.chat_message)": "adapter encode (send -> stanza)"}

    def __init__(self) -> None:
        self.on = False
        self.t: Counter[str] = Counter()
        self._saved: list[tuple[Any, str, Any]] = []

    def wrap(self, obj: Any, attr: str, name: str) -> None:
        fn = getattr(obj, attr)
        clock, t = time.thread_time, self.t

        def timed(*args: Any, **kwargs: Any) -> Any:
            if not self.on:
                return fn(*args, **kwargs)
            t0 = clock()
            try:
                return fn(*args, **kwargs)
            finally:
                t[name] += clock() - t0

        setattr(obj, attr, timed)

    def device(self, d: Any) -> None:
        self.wrap(d.adapter, "decode", "adapter decode (parse + dispatch)")
        self.wrap(d.adapter, "encode", "adapter encode (send -> stanza)")
        self.wrap(d.adapter, "output", "adapter encode (send -> stanza)")
        for attr in ("frame_received", "send_message", "timer_fired", "actions"):
            self.wrap(d.engine, attr, "engine (imload/client)")

    def modules(self, journal: Any) -> None:
        """Wrap the shared entry points: the journal, parsing, building, the driver's
        framing and writes, in this process only (``unwrap`` puts them back). None of
        them switches greenlets, so a thread CPU clock around them sees only their work."""
        from imload.adapters.xmpp import adapter, build
        from imload.drivers import buffered, gevent_ws, writer
        wrapped = [(adapter, "parse", "xml parse (lxml, parsing.parse)"),
                   (build, "chat_message", "xml build (build.chat_message)"),
                   (gevent_ws, "text_frame", "ws framing out (text_frame, masking)"),
                   (buffered.ReadAhead, "next_message", "ws framing in (next_message)"),
                   (writer.FrameWriter, "_flush_soon", "socket send (FrameWriter flush)")]
        self._saved = [(obj, attr, obj.__dict__[attr]) for obj, attr, _ in wrapped]
        for obj, attr, name in wrapped:
            self.wrap(obj, attr, name)
        self.wrap(journal, "write", "journal (orjson + file)")

    def unwrap(self) -> None:
        for obj, attr, fn in self._saved:
            setattr(obj, attr, fn)
        self._saved = []

    def shares(self, cpu_s: float) -> dict[str, float]:
        own = Counter(self.t)
        for sub, outer in self.SUB.items():
            own[outer] -= own.get(sub, 0.0)
        own["the rest: gevent hub + switches, recv, driver glue, benchmark"] = (
            cpu_s - sum(own.values()))
        return {k: v / cpu_s for k, v in own.most_common()} if cpu_s > 0 else {}


def _device(target: Any, url: str, user: str, journal: Any, on_record: Any,
            seed: int) -> Any:
    from imload.adapters import make_adapter
    from imload.client import Backoff, DeviceEngine, EngineConfig
    from imload.drivers import GeventDevice, measure_wall_offset
    adapter = make_adapter("xmpp", user, "d0", target.secret, target.protocol_options)
    engine = DeviceEngine(user, "d0", adapter.identity.token, [url],
                          rng=random.Random(seed), backoff=Backoff("full_jitter", 0.5, 5.0),
                          config=EngineConfig(wall_offset=measure_wall_offset(),
                                              keep_display=False, fetch_marks=False))
    return GeventDevice(engine, journal, on_record=on_record, adapter=adapter)


def measure(target: Any, url: str, pairs: int, seconds: float, journal_dir: str, *,
            server_pid: int | None = None, warmup_s: float = 2.0,
            profile: str | None = None, parts: bool = False,
            window: int = WINDOW) -> dict[str, Any]:
    """Connect ``pairs`` pairs of XMPP devices in this process, let every device send to
    its peer with ``window`` messages in flight, and count over ``seconds`` (after
    ``warmup_s``): acked and delivered messages, this process's CPU and wall time,
    Prosody's CPU (``server_pid``) and the machine's, websocket frames each way; with
    ``parts``, this process's CPU by entry point (``Parts``)."""
    import gevent
    import gevent.event

    from imload.journal import JournalWriter
    from imload.protocol import direct_conv
    journal = JournalWriter(journal_dir, f"xmpp-{os.getpid()}", flush_every=4096)
    counts = {"acked": 0, "delivered": 0, "events": 0}
    measuring = [False]
    stop = [False]
    frames = FrameCount()
    timed = Parts() if parts else None
    devices: list[Any] = []
    senders: list[tuple[Any, str, Any]] = []
    greenlets: list[Any] = []
    tag = f"b{os.getpid()}x"
    try:
        if timed is not None:
            timed.modules(journal)
        for i in range(pairs):
            users = (f"{tag}{i}a", f"{tag}{i}b")
            conv = direct_conv(*users)
            for k, me in enumerate(users):
                peer = users[1 - k]
                room = gevent.event.Event()
                room.set()

                def rec(ev: dict[str, Any], room: Any = room, peer: str = peer) -> None:
                    kind = ev["ev"]
                    if kind == "send_ok":
                        room.set()
                        if measuring[0]:
                            counts["acked"] += 1
                    if measuring[0] and kind in ("send", "send_ok", "deliver"):
                        counts["events"] += 1
                        if kind == "deliver" and ev.get("from") == peer:
                            counts["delivered"] += 1

                d = _device(target, url, me, journal, rec, seed=2 * i + k)
                frames.wrap(d.adapter)
                if timed is not None:
                    timed.device(d)
                devices.append(d)
                senders.append((d, conv, room))
                d.start()
        t0 = time.monotonic()
        deadline = t0 + CONNECT_TIMEOUT_S
        online = 0
        while time.monotonic() < deadline:
            online = sum(1 for d in devices if d.online)
            if online == len(devices):
                break
            gevent.sleep(0.2)
        connect_s = time.monotonic() - t0
        if online < len(devices):
            errors = [e for d in devices for e in d.errors][:5]
            raise RuntimeError(f"only {online} of {len(devices)} devices online after "
                               f"{CONNECT_TIMEOUT_S:g} s; errors: {errors}")

        def pump(d: Any, conv: str, room: Any, until: float) -> None:
            while not stop[0] and time.monotonic() < until:
                for _ in range(window):  # fill the window, at most `window` sends a turn
                    if d.engine.pending_sends >= window or stop[0]:
                        break
                    d.send_message(conv, BODY)
                room.clear()
                room.wait(1.0)

        until = time.monotonic() + warmup_s + seconds + 30.0  # a bound, not the stop
        greenlets = [gevent.spawn(pump, d, conv, room, until) for d, conv, room in senders]
        gevent.sleep(warmup_s)
        profiler = None
        if profile:
            from pyinstrument import Profiler
            from pyinstrument.stack_sampler import get_stack_sampler

            # sample on this process's CPU clock, not the wall's: the generator is mostly
            # idle here (waiting for Prosody), and the question is where its CPU goes
            get_stack_sampler().timer_func = time.process_time
            profiler = Profiler(async_mode="disabled")
            profiler.start()
        r0 = resource.getrusage(resource.RUSAGE_SELF)
        frames.on = measuring[0] = True
        if timed is not None:
            timed.on = True
        c0, w0, s0, h0 = cpu_self(), time.monotonic(), cpu_of(server_pid), host_busy()
        gevent.sleep(seconds)
        frames.on = measuring[0] = False
        if timed is not None:
            timed.on = False
        cpu, wall = cpu_self() - c0, time.monotonic() - w0
        r1 = resource.getrusage(resource.RUSAGE_SELF)
        s1, host = cpu_of(server_pid), host_busy() - h0
        shares: dict[str, float] = {}
        if profiler is not None:
            session = profiler.stop()
            get_stack_sampler().timer_func = None
            Path(profile).write_text(  # type: ignore[arg-type]
                profiler.output_text(unicode=False, color=False, show_all=False))
            shares = profile_shares(session.root_frame())
        stop[0] = True
        gevent.joinall(greenlets, timeout=3)
        return {**counts, "cpu_s": cpu, "wall_s": wall, "connect_s": connect_s,
                "devices": len(devices),
                "server_cpu_s": None if s0 is None or s1 is None else s1 - s0,
                "host_cpu_s": host, "sys_s": r1.ru_stime - r0.ru_stime,
                "frames_out": frames.out, "frames_in": frames.into,
                "kinds_in": frames.kinds(), "profile_shares": shares,
                "part_shares": timed.shares(cpu) if timed is not None else {},
                "errors": sum(len(d.errors) for d in devices)}
    finally:
        stop[0] = True
        gevent.killall(greenlets, timeout=2)
        stoppers = [gevent.spawn(d.stop, 0.5) for d in devices]
        gevent.joinall(stoppers, timeout=10)
        gevent.killall([g for g in stoppers if not g.dead], timeout=2)
        journal.close()
        if timed is not None:
            timed.unwrap()


# Where the CPU goes: the first matching fragment of a frame's file path names its part.
PARTS = [
    ("xml parsing (lxml, parsing.py, messages.py)",
     ("/lxml/", "adapters/xmpp/parsing.py", "adapters/xmpp/messages.py", "<lxml")),
    ("xml building (build.py)", ("adapters/xmpp/build.py",)),
    ("scram (sasl.py, hashlib, hmac)", ("adapters/xmpp/sasl.py", "hashlib", "hmac.py")),
    ("xmpp adapter, the rest", ("adapters/xmpp/", "adapters/base.py")),
    ("engine (imload/client)", ("imload/client/",)),
    ("journal (imload/journal)", ("imload/journal/",)),
    ("driver framing, reads (buffered.py, wsopen.py)",
     ("drivers/buffered.py", "drivers/wsopen.py")),
    ("driver writes (writer.py)", ("drivers/writer.py",)),
    ("driver glue (gevent_ws.py, glue.py, lifecycle.py, lock.py)",
     ("drivers/gevent_ws.py", "drivers/glue.py", "drivers/lifecycle.py", "drivers/lock.py")),
    ("websocket-client", ("/websocket/",)),
    ("gevent (hub, sockets, events, locks)", ("/gevent/", "greenlet")),
    ("this benchmark (pumps, counters)", ("bench_xmpp.py",)),
    ("protocol helpers (imload/protocol)", ("imload/protocol",)),
]


def part_of(path: str | None, parent: str) -> str:
    if not path or path.startswith("<"):  # <built-in>, <string>: where they were called
        return parent
    for name, fragments in PARTS:
        if any(f in path for f in fragments):
            return name
    return f"other ({Path(path).name})"


def profile_shares(root: Any) -> dict[str, float]:
    """The self time of a pyinstrument frame tree by part (``PARTS``), as shares."""
    totals: Counter[str] = Counter()
    stack: list[tuple[Any, str]] = [(root, "other (root)")] if root is not None else []
    seen = 0
    while stack and seen < 1_000_000:
        frame, parent = stack.pop()
        seen += 1
        name = part_of(frame.file_path, parent)
        kids = list(frame.children)
        totals[name] += max(0.0, frame.time - sum(c.time for c in kids))
        stack.extend((c, name) for c in kids)
    whole = sum(totals.values()) or 1.0
    return {k: v / whole for k, v in totals.most_common()}


# ------------------------------------------------------------------ the baseline

def raw_ceiling(clients: int, seconds: float, window: int) -> dict[str, Any] | None:
    """bench_generator.py's raw ceiling (its echo server and echo child), or None; that
    child keeps its own window of 8, so with another ``window`` there is no baseline."""
    if window != WINDOW:
        return None
    import socket
    gen = str(REPO / "benchmarks" / "bench_generator.py")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    server = subprocess.Popen([sys.executable, gen, "--child", "echo-server", str(port)],
                              cwd=REPO)
    try:
        time.sleep(1.5)
        p = subprocess.run([sys.executable, gen, "--child", "echo",
                            f"ws://127.0.0.1:{port}/", str(clients), str(seconds)],
                           capture_output=True, text=True, timeout=seconds + 60, cwd=REPO)
        lines = [ln for ln in p.stdout.splitlines() if ln.startswith("{")]
        return json.loads(lines[-1]) if lines else None
    finally:
        server.terminate()
        server.wait(10)


# ------------------------------------------------------------------ parent

def run(pairs: int, seconds: float, *, warmup_s: float = 2.0, profile: str | None = None,
        parts: bool = False, window: int = WINDOW) -> dict[str, Any]:
    """Start a private Prosody, ``measure``, stop it (always)."""
    from imload.cluster.backends import ProsodyCluster
    with tempfile.TemporaryDirectory(prefix="imload-bench-xmpp-") as tmp:
        cluster = ProsodyCluster(Path(tmp) / "cluster")
        try:
            target = cluster.start()
            node = cluster.node_names[0]  # the one Prosody
            url = cluster.node_url(node, direct=True)
            return measure(target, url, pairs, seconds, f"{tmp}/journal",
                           server_pid=cluster.parts[node].pid, warmup_s=warmup_s,
                           profile=profile, parts=parts, window=window)
        finally:
            cluster.stop()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="a smaller, shorter run (~20 s)")
    p.add_argument("--pairs", type=int, default=None, help="pairs of devices (50; quick 20)")
    p.add_argument("--seconds", type=float, default=None,
                   help="measured seconds (10; quick 4)")
    p.add_argument("--profile", default=None, metavar="FILE",
                   help="write a pyinstrument profile of the measured window to FILE")
    p.add_argument("--window", type=int, default=WINDOW,
                   help=f"unacknowledged messages per device ({WINDOW})")
    p.add_argument("--parts", action="store_true",
                   help="time a few entry points (adapter, lxml, engine, journal) on this "
                        "thread's CPU clock: a CPU breakdown without a sampler's cost")
    p.add_argument("--no-baseline", action="store_true",
                   help="skip the raw websocket ceiling (bench_generator.py's echo run)")
    ns = p.parse_args(argv)
    pairs = ns.pairs or (20 if ns.quick else 50)
    seconds = ns.seconds or (4.0 if ns.quick else 10.0)
    window = ns.window
    if pairs < 1 or seconds <= 0 or window < 1:
        p.error("--pairs and --window must be >= 1 and --seconds > 0")
    try:
        m = run(pairs, seconds, warmup_s=1.0 if ns.quick else 2.0, profile=ns.profile,
                parts=ns.parts, window=window)
        echo = None if ns.no_baseline else raw_ceiling(pairs * 2, seconds, window)
    except KeyboardInterrupt:
        print("interrupted (Prosody stopped)", file=sys.stderr)
        return 130
    complete = min(m["acked"], m["delivered"])
    per_core = complete / m["cpu_s"] if m["cpu_s"] > 0 else 0.0
    extra: dict[str, Any] = {
        "pairs": pairs, "devices": m["devices"], "window": window, "seconds": seconds,
        "acked": m["acked"], "delivered": m["delivered"],
        "frames_out_per_message": m["frames_out"] / max(complete, 1),
        "frames_in_per_message": m["frames_in"] / max(complete, 1),
        "frames_in_by_element": m["kinds_in"], "errors": m["errors"],
        "profiled": bool(ns.profile), "timed_parts": ns.parts}
    if echo is not None and echo.get("cpu_s"):
        ceiling = echo["round_trips"] / echo["cpu_s"]
        emit("raw_ws_round_trips_per_core", ceiling, "round trips/cpu-s",
             connections=pairs * 2, window=window)
        extra.update(baseline=ceiling, ratio=per_core / ceiling)
    emit("xmpp_messages_per_core", per_core, "messages/cpu-s", **extra)
    emit("xmpp_messages_per_s", complete / m["wall_s"], "messages/s", pairs=pairs,
         window=window, connect_s=m["connect_s"])
    emit("generator_cpu_util", m["cpu_s"] / m["wall_s"], "cores",
         sys_share=m["sys_s"] / m["cpu_s"] if m["cpu_s"] > 0 else 0.0,
         host_cpu_util=m["host_cpu_s"] / m["wall_s"], host_cores=os.cpu_count())
    if m["server_cpu_s"] is not None:
        emit("server_cpu_util", m["server_cpu_s"] / m["wall_s"], "cores",
             note="Prosody: one Lua thread, saturated near 1.0; shares the cores with "
                  "the generator")
    if m["profile_shares"]:
        emit("profile_share", 1.0, "share of the profiled window's CPU (self time)",
             parts={k: round(v, 3) for k, v in m["profile_shares"].items()})
    if m["part_shares"]:
        emit("cpu_share_by_part", 1.0, "share of the window's CPU (user + sys)",
             us_per_message=1e6 * m["cpu_s"] / max(complete, 1),
             parts={k: round(v, 3) for k, v in m["part_shares"].items()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
