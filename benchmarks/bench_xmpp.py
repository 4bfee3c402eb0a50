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
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from bench_generator import emit  # noqa: E402 - the same JSON lines
from generator_children import (  # noqa: E402 - the same clock, window and body
    BODY,
    WINDOW,
    cpu_self,
)
from xmpp_bench_meters import (  # noqa: E402 - the instruments
    FrameCount,
    Parts,
    cpu_of,
    host_busy,
    profile_shares,
)

CONNECT_TIMEOUT_S = 90.0


# ------------------------------------------------------------------ measuring

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


class _Pairs:
    """The devices of one measurement, their counters and their pumps."""

    def __init__(self, journal: Any, window: int, parts: bool) -> None:
        self.journal, self.window = journal, window
        self.counts = {"acked": 0, "delivered": 0, "events": 0}
        self.measuring = False  # the records count only inside the measured window
        self.stopped = False
        self.frames = FrameCount()
        self.timed = Parts() if parts else None
        self.devices: list[Any] = []
        self.senders: list[tuple[Any, str, Any]] = []  # (device, conv, its window's room)
        self.greenlets: list[Any] = []
        if self.timed is not None:
            self.timed.modules(journal)

    def add(self, target: Any, url: str, pairs: int) -> None:
        """Start ``pairs`` pairs of fresh accounts, each device writing to its peer."""
        import gevent.event

        from imload.protocol import direct_conv
        tag = f"b{os.getpid()}x"
        for i in range(pairs):
            users = (f"{tag}{i}a", f"{tag}{i}b")
            conv = direct_conv(*users)
            for k, me in enumerate(users):
                room = gevent.event.Event()
                room.set()
                d = _device(target, url, me, self.journal, self._recorder(room, users[1 - k]),
                            seed=2 * i + k)
                self.frames.wrap(d.adapter)
                if self.timed is not None:
                    self.timed.device(d)
                self.devices.append(d)
                self.senders.append((d, conv, room))
                d.start()

    def _recorder(self, room: Any, peer: str) -> Any:
        """A device's ``on_record``: an ack opens its window; the window's events count."""
        counts = self.counts

        def rec(ev: dict[str, Any]) -> None:
            kind = ev["ev"]
            if kind == "send_ok":
                room.set()
                if self.measuring:
                    counts["acked"] += 1
            if self.measuring and kind in ("send", "send_ok", "deliver"):
                counts["events"] += 1
                if kind == "deliver" and ev.get("from") == peer:
                    counts["delivered"] += 1
        return rec

    def wait_online(self) -> float:
        """Seconds until every device is online (RuntimeError past CONNECT_TIMEOUT_S)."""
        import gevent
        t0 = time.monotonic()
        deadline = t0 + CONNECT_TIMEOUT_S
        online = 0
        while time.monotonic() < deadline:
            online = sum(1 for d in self.devices if d.online)
            if online == len(self.devices):
                break
            gevent.sleep(0.2)
        if online < len(self.devices):
            errors = [e for d in self.devices for e in d.errors][:5]
            raise RuntimeError(f"only {online} of {len(self.devices)} devices online after "
                               f"{CONNECT_TIMEOUT_S:g} s; errors: {errors}")
        return time.monotonic() - t0

    def pump_all(self, until: float) -> None:
        """Every device sends to its peer, ``window`` messages in flight, until ``until``
        (a bound: ``close`` stops them first)."""
        import gevent
        self.greenlets = [gevent.spawn(self._pump, d, conv, room, until)
                          for d, conv, room in self.senders]

    def _pump(self, d: Any, conv: str, room: Any, until: float) -> None:
        while not self.stopped and time.monotonic() < until:
            for _ in range(self.window):  # fill the window, at most `window` sends a turn
                if d.engine.pending_sends >= self.window or self.stopped:
                    break
                d.send_message(conv, BODY)
            room.clear()
            room.wait(1.0)

    def counting(self, on: bool) -> None:
        self.frames.on = self.measuring = on
        if self.timed is not None:
            self.timed.on = on

    def close(self) -> None:
        """Stop the pumps and the devices (bounded waits), close the journal, unwrap."""
        import gevent
        self.stopped = True
        gevent.killall(self.greenlets, timeout=2)
        stoppers = [gevent.spawn(d.stop, 0.5) for d in self.devices]
        gevent.joinall(stoppers, timeout=10)
        gevent.killall([g for g in stoppers if not g.dead], timeout=2)
        self.journal.close()
        if self.timed is not None:
            self.timed.unwrap()


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

    from imload.journal import JournalWriter
    run = _Pairs(JournalWriter(journal_dir, f"xmpp-{os.getpid()}", flush_every=4096),
                 window, parts)
    try:
        run.add(target, url, pairs)
        connect_s = run.wait_online()
        run.pump_all(time.monotonic() + warmup_s + seconds + 30.0)
        gevent.sleep(warmup_s)
        m = _window(run, seconds, server_pid, profile)
        run.stopped = True
        gevent.joinall(run.greenlets, timeout=3)
        return {**run.counts, **m, "connect_s": connect_s, "devices": len(run.devices),
                "frames_out": run.frames.out, "frames_in": run.frames.into,
                "kinds_in": run.frames.kinds(),
                "part_shares": run.timed.shares(m["cpu_s"]) if run.timed is not None else {},
                "errors": sum(len(d.errors) for d in run.devices)}
    finally:
        run.close()


def _window(run: _Pairs, seconds: float, server_pid: int | None,
            profile: str | None) -> dict[str, Any]:
    """The measured window: the counters on for ``seconds``, the CPU clocks around it (and
    a pyinstrument profile of it when ``profile`` names a file)."""
    import gevent
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
    run.counting(True)
    c0, w0, s0, h0 = cpu_self(), time.monotonic(), cpu_of(server_pid), host_busy()
    gevent.sleep(seconds)
    run.counting(False)
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
    return {"cpu_s": cpu, "wall_s": wall, "host_cpu_s": host,
            "server_cpu_s": None if s0 is None or s1 is None else s1 - s0,
            "sys_s": r1.ru_stime - r0.ru_stime, "profile_shares": shares}


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


def report(m: dict[str, Any], echo: dict[str, Any] | None, pairs: int, seconds: float,
           window: int, *, profiled: bool, parts: bool) -> None:
    """Print the figures of ``measure``'s ``m`` (and the raw ceiling ``echo``), one JSON
    object per line."""
    complete = min(m["acked"], m["delivered"])
    per_core = complete / m["cpu_s"] if m["cpu_s"] > 0 else 0.0
    extra: dict[str, Any] = {
        "pairs": pairs, "devices": m["devices"], "window": window, "seconds": seconds,
        "acked": m["acked"], "delivered": m["delivered"],
        "frames_out_per_message": m["frames_out"] / max(complete, 1),
        "frames_in_per_message": m["frames_in"] / max(complete, 1),
        "frames_in_by_element": m["kinds_in"], "errors": m["errors"],
        "profiled": profiled, "timed_parts": parts}
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
    pairs = ns.pairs if ns.pairs is not None else (20 if ns.quick else 50)
    seconds = ns.seconds if ns.seconds is not None else (4.0 if ns.quick else 10.0)
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
    report(m, echo, pairs, seconds, window, profiled=bool(ns.profile), parts=ns.parts)
    return 0


if __name__ == "__main__":
    sys.exit(main())
