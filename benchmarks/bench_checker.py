"""How fast is the checker? ``check()`` over a synthetic, clean journal, on one core.

The checker is single-threaded pure Python, so it uses one core; ``--pin``
also pins the process to one CPU (on a busy shared machine that can hurt).

    .venv/bin/python benchmarks/bench_checker.py [--quick] [--messages N] [--users U]
                                                 [--seqs contiguous|timestamps|opaque]

The journal: ``--users`` users (default 10k) with 1 or 2 devices each, each
user with ~10 contacts; ``--messages`` direct messages (default 1M, 50k with
--quick), each with its send attempt (1 % retried), its send_ok and one push
delivery per member device, then the audit (every device: audit start, its
final read markers, audit done), on one clock, sorted by ``at``, with the
fields a real journal has; every check runs over it (the gap check judges every
audited device). ``--seqs timestamps`` numbers every conversation with 13-digit
millisecond timestamps instead of 1, 2, 3 (the journal declares them
``increasing``): no check's cost may depend on the values, so its figures must
match the contiguous run's. ``--seqs opaque`` numbers them with 63-bit labels and
declares them ``opaque``, as XMPP and MQTT targets do (the order checks are then not
judged; with ``--from-files`` the DuckDB checker still judges the journal). Prints one
JSON object per line (docs/architecture.md, "Benchmarks"):

- checker_events_per_s, with ``baseline``: a plain pass over the same events
  that touches one dict per event, and ``ratio`` = checker / baseline (best
  of ``--repeat`` runs each: 3 by default, 1 for runs over 200k messages);
- checker_seconds_1M_messages (scaled linearly when the run is smaller);
- checker_peak_rss_mib (the whole process: journal included) and
  journal_rss_mib (the peak before the checker ran).

``--from-files`` measures ``imload verify``'s way instead, from the files,
reading included, each checker in a fresh process (its own peak memory), the
report's per-second series included (as ``imload verify`` and ``imload run`` make them): the
journal is written once as a columnar file (``--messages``, default 1M), then
judged by the DuckDB checker (``imload.checkdb``: DuckDB, every core, ``--memory-limit``)
and by the reference checker (``read_journal`` + ``check``; ``--no-reference``
skips it, e.g. past what it can hold). Figures:

- verify_seconds: the DuckDB checker's wall seconds, with ``baseline`` = the
  reference's and ``ratio`` = engine / reference (lower is better), and the
  engine's own phases (load, scope, tables, checks, series);
- verify_peak_rss_mib: the DuckDB checker process's peak memory, with ``baseline`` =
  the reference process's;
- both verdicts must be byte-identical (else exit 1).

``--traffic chat`` writes the chat mix's journal instead (``synth_chat.py``: groups with
late joiners, reads with their read_sync, contact ops, the audit's markers and state);
with ``--seqs opaque`` its seqs are declared opaque, so its groups are placed by the time
rule.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import os
import random
import resource
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.synth_chat import chat_events  # noqa: E402
from imload.check import check  # noqa: E402
from imload.journal import body_digest  # noqa: E402

TIMESTAMP_BASE = 1_733_000_000_000  # ms since the epoch, December 2024
OPAQUE_BASE = 0x5DEECE66D << 20  # labels: the seqs an XMPP or MQTT adapter makes are 63-bit
SEQ_NUMBERING = {"contiguous": "contiguous", "timestamps": "increasing", "opaque": "opaque"}


def declare(seqs: str, at: float) -> dict[str, Any]:
    """The ``declare`` event of a journal numbered as ``--seqs`` says."""
    return {"ev": "declare", "at": at, "numbering": {"seq": SEQ_NUMBERING[seqs],
                                                     "useq": "contiguous"}}


def synth_journal(messages: int, users: int, seed: int = 7,
                  seqs: str = "contiguous") -> list[dict[str, Any]]:
    events = list(synth_events(messages, users, seed, seqs))
    events.sort(key=lambda e: e["at"])
    return events


def synth_events(messages: int, users: int, seed: int = 7,
                 seqs: str = "contiguous") -> Iterator[dict[str, Any]]:
    """The synthetic journal's events, as they are made (by message, not sorted by ``at``:
    any reader sorts them), so a journal of any size is written without holding it."""
    rnd = random.Random(seed)
    names = [f"u{i}" for i in range(users)]
    devices = {u: ["phone", "laptop"][: rnd.choice((1, 2))] for u in names}
    contacts = {u: rnd.sample(names, 10) for u in names}
    buffer: list[dict[str, Any]] = []
    add = buffer.append
    t = 1000.0
    if seqs != "contiguous":
        add(declare(seqs, t))
    add({"ev": "phase", "at": t, "phase": "load", "action": "start"})
    for u in names:
        for d in devices[u]:
            t += 1e-5
            add({"ev": "device", "at": t, "user": u, "device": d})
            add({"ev": "connected", "at": t, "user": u, "device": d, "session": 1,
                 "node": "n1", "inbox_seq": 0, "acked": 0})
    numbered: dict[str, int] = {}
    useqs = dict.fromkeys(names, 0)
    last_push: dict[str, float] = {}
    digests = [body_digest(f"body {i}") for i in range(1000)]
    for i in range(messages):
        t += 0.0002  # 5k messages/s
        a = names[rnd.randrange(users)]
        b = contacts[a][rnd.randrange(10)]
        if a == b:
            b = names[(names.index(a) + 1) % users]
        conv = f"d:{a}:{b}" if a < b else f"d:{b}:{a}"
        dev = devices[a][rnd.randrange(len(devices[a]))]
        cmid, mid, digest = f"c{i}", f"m{i}", digests[i % 1000]
        seen = numbered.get(conv, 0)
        seq = numbered[conv] = (TIMESTAMP_BASE + i if seqs == "timestamps" else
                                OPAQUE_BASE ^ (i * 2_654_435_761) if seqs == "opaque" else
                                seen + 1)
        add({"ev": "send", "at": t, "user": a, "device": dev, "session": 1, "cmid": cmid,
             "conv": conv, "digest": digest, "attempt": 1, "ts": int(t * 1000),
             "seen_seq": seen})
        ack_at = t + rnd.uniform(0.002, 0.030)
        if rnd.random() < 0.01:
            add({"ev": "send", "at": t + 0.001, "user": a, "device": dev, "session": 1,
                 "cmid": cmid, "conv": conv, "digest": digest, "attempt": 2,
                 "ts": int(t * 1000), "seen_seq": seen})
        add({"ev": "send_ok", "at": ack_at, "user": a, "device": dev, "session": 1,
             "cmid": cmid, "conv": conv, "mid": mid, "seq": seq, "dup": False})
        at = max(ack_at + rnd.uniform(0.001, 0.020), last_push.get(conv, 0.0) + 1e-6)
        last_push[conv] = at
        for u in (a, b):
            useqs[u] += 1
            for d in devices[u]:
                add({"ev": "deliver", "at": at, "user": u, "device": d, "session": 1,
                     "mid": mid, "conv": conv, "seq": seq, "useq": useqs[u], "from": a,
                     "from_device": dev, "cmid": cmid, "digest": digest, "via": "push",
                     "phase": "load"})
        if len(buffer) >= 65536:
            yield from buffer
            buffer.clear()
    t += 1
    add({"ev": "phase", "at": t, "phase": "load", "action": "end"})
    add({"ev": "phase", "at": t, "phase": "audit", "action": "start"})
    for u in names:  # the audit: every device logs in again, has it all, fetches marks
        for d in devices[u]:
            t += 1e-5
            add({"ev": "audit", "at": t, "user": u, "device": d, "action": "start",
                 "inbox_seq": useqs[u]})
            add({"ev": "marks", "at": t, "user": u, "device": d, "session": 0, "marks": {},
                 "phase": "audit"})
            add({"ev": "audit", "at": t, "user": u, "device": d, "action": "done",
                 "inbox_seq": useqs[u]})
    add({"ev": "phase", "at": t, "phase": "audit", "action": "end"})
    yield from buffer


def baseline_pass(events: list[dict[str, Any]]) -> dict[str, int]:
    """The floor: iterate the events and touch one dict per event."""
    seen: dict[str, int] = {}
    for e in events:
        k = e["ev"]
        seen[k] = seen.get(k, 0) + 1
    return seen


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def emit(**fields: Any) -> None:
    sys.stdout.write(orjson.dumps(fields).decode() + "\n")
    sys.stdout.flush()


def write_journal(messages: int, users: int, folder: str, traffic: str = "direct",
                  seqs: str = "contiguous") -> None:
    from imload.journal.columnar import ColumnarJournalWriter
    events = synth_events(messages, users, seqs=seqs) if traffic == "direct" else \
        chat_events(messages, users)
    if traffic == "chat" and seqs != "contiguous":  # the chat mix's seqs, declared so (the
        # checker's cost may not depend on their values: only what the declaration changes)
        events = itertools.chain([declare(seqs, 1000.0)], events)
    with ColumnarJournalWriter(folder, "locust-bench-1", flush_every=65536) as w:
        for e in events:
            w.write(e)


def judge(which: str, folder: str, verdict_out: str, memory_limit: str) -> None:
    """In a fresh process: judge the journal in ``folder``; print seconds and peak memory."""
    from imload.report.verdict_json import write_verdict
    t = time.perf_counter()
    phases: dict[str, float] = {}
    checker = which
    if which == "duckdb":
        from imload.checkdb.verdict import duckdb_check
        from imload.journal.reader import journal_files
        verdict, info = duckdb_check(journal_files([folder]), memory_limit=memory_limit,
                                     series=True)
        phases, checker = {k: round(v, 2) for k, v in info.seconds.items()}, info.checker
    else:
        from imload.journal import read_journal
        from imload.report.timeseries import build_series
        journal = read_journal(folder)
        verdict = check(journal.events, bad_lines=journal.bad_lines)
        build_series(journal.events, verdict)
    seconds = time.perf_counter() - t
    write_verdict(verdict_out, verdict)
    print(orjson.dumps({"seconds": seconds, "peak_mib": peak_rss_mib(), "phases": phases,
                        "checker": checker, "passed": verdict["passed"]}).decode())


def _child(*args: str) -> dict[str, Any]:
    import subprocess
    p = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True,
                       text=True, timeout=3600)
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("{")]
    if p.returncode or not lines:
        raise RuntimeError(f"child {args[0]} failed (exit {p.returncode}): {p.stderr[-2000:]}")
    return dict(orjson.loads(lines[-1]))


def from_files(messages: int, users: int, reference: bool, memory_limit: str,
               traffic: str = "direct", seqs: str = "contiguous") -> int:
    import tempfile
    with tempfile.TemporaryDirectory(prefix="imload-bench-check-") as tmp:
        journal = f"{tmp}/journal"
        t = time.perf_counter()
        _child("write", str(messages), str(users), journal, traffic, seqs)
        size = sum(f.stat().st_size for f in Path(journal).iterdir())
        written = time.perf_counter() - t
        engine = _child("judge", "duckdb", journal, f"{tmp}/engine.json", memory_limit)
        ref = _child("judge", "reference", journal, f"{tmp}/reference.json",
                     memory_limit) if reference else None
        same = ref is None or Path(f"{tmp}/engine.json").read_bytes() == Path(
            f"{tmp}/reference.json").read_bytes()
    context = {"messages": messages, "users": users, "traffic": traffic, "seqs": seqs,
               "journal_bytes": size,
               "checker": engine["checker"], "write_s": round(written, 1)}
    base = {"baseline": round(ref["seconds"], 2),
            "ratio": round(engine["seconds"] / ref["seconds"], 3)} if ref else {}
    emit(figure="verify_seconds", value=round(engine["seconds"], 2), unit="s", **base,
         phases=engine["phases"], **context)
    mem = {"baseline": round(ref["peak_mib"], 1)} if ref else {}
    emit(figure="verify_peak_rss_mib", value=round(engine["peak_mib"], 1), unit="MiB", **mem,
         memory_limit=memory_limit, **context)
    if not same:
        print("the DuckDB checker's verdict differs from the reference's", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        kind, *rest = argv[1:]
        if kind == "write":
            write_journal(int(rest[0]), int(rest[1]), rest[2], *rest[3:5])
            print("{}")
        else:
            judge(rest[0], rest[1], rest[2], rest[3])
        return 0
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="50k messages instead of 1M")
    p.add_argument("--messages", type=int, help="number of messages (overrides --quick)")
    p.add_argument("--users", type=int, default=10_000)
    p.add_argument("--repeat", type=int, help="runs; the best counts (default 3, full run 1)")
    p.add_argument("--seqs", choices=tuple(SEQ_NUMBERING), default="contiguous",
                   help="number conversations 1, 2, 3, with 13-digit ms timestamps, or with "
                        "labels (opaque, as XMPP and MQTT targets declare)")
    p.add_argument("--from-files", action="store_true",
                   help="imload verify's way: from a columnar file, engine vs reference")
    p.add_argument("--no-reference", action="store_true",
                   help="with --from-files: skip the reference checker (too big for it)")
    p.add_argument("--memory-limit",
                   help="the DuckDB checker's memory_limit (default: its own, "
                        "imload.checkdb.db.MEMORY_LIMIT)")
    p.add_argument("--traffic", choices=("direct", "chat"), default="direct",
                   help="with --from-files: direct chats only, or the chat mix's groups, "
                        "reads and ops too (benchmarks/synth_chat.py)")
    p.add_argument("--pin", action="store_true",
                   help="pin the process to one CPU (the checker is single-threaded anyway)")
    args = p.parse_args(argv)
    messages = args.messages or (50_000 if args.quick else 1_000_000)
    if args.from_files:
        from imload.checkdb.db import MEMORY_LIMIT  # (not at the top: DuckDB stays out of
        # the in-process figures' peak memory)
        return from_files(messages, args.users, not args.no_reference,
                          args.memory_limit or MEMORY_LIMIT, args.traffic, args.seqs)
    args.repeat = max(1, args.repeat or (3 if messages <= 200_000 else 1))
    if args.pin and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[-1]})
    t = time.perf_counter()
    events = synth_journal(messages, args.users, seqs=args.seqs)
    gen_s = time.perf_counter() - t
    journal_rss = peak_rss_mib()
    n = len(events)
    gc.collect()

    base_s = check_s = float("inf")
    times: list[float] = []
    for _ in range(args.repeat):  # best of N: the machine may be shared
        t = time.perf_counter()
        baseline_pass(events)
        base_s = min(base_s, time.perf_counter() - t)
        t = time.perf_counter()
        verdict = check(events)
        times.append(time.perf_counter() - t)
        check_s = min(check_s, times[-1])
        if not verdict["passed"]:
            print(f"the synthetic journal should pass: {verdict['anomalies']} "
                  f"{verdict['unknown']}", file=sys.stderr)
            return 1
        del verdict

    rate, base_rate = n / check_s, n / base_s
    context = {"events": n, "messages": messages, "users": args.users, "runs": args.repeat,
               "seqs": args.seqs}
    emit(figure="checker_events_per_s", value=round(rate), unit="events/s",
         baseline=round(base_rate), ratio=round(rate / base_rate, 4), **context)
    emit(figure="checker_seconds_1M_messages", value=round(check_s * 1_000_000 / messages, 2),
         unit="s", measured_s=round(check_s, 3),
         median_s=round(sorted(times)[len(times) // 2], 3), **context)
    emit(figure="checker_peak_rss_mib", value=round(peak_rss_mib(), 1), unit="MiB",
         **context)
    emit(figure="journal_rss_mib", value=round(journal_rss, 1), unit="MiB",
         generate_s=round(gen_s, 2), **context)
    return 0


if __name__ == "__main__":
    sys.exit(main())
