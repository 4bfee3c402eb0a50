"""bench_xmpp.py's instruments: CPU clocks (/proc), websocket frame counts, CPU by part (timed
entry points, ``--parts``; or a pyinstrument profile's self time, ``--profile``).

None of them changes a file of imload: they wrap one process's instances and functions and
put them back (``Parts.unwrap``).
"""

from __future__ import annotations

import os
import time
from collections import Counter
from pathlib import Path
from typing import Any


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
    ("this benchmark (pumps, counters)", ("bench_xmpp.py", "xmpp_bench_meters.py")),
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
