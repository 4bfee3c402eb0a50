"""How many durable 1:1 messages per second does one reference node carry?

    .venv/bin/python benchmarks/bench_server.py [--quick] [--pairs P] [--window W]
                                                [--seconds S] [--fsync always,everysec]

For each AOF fsync policy, a private local cluster with one node is started (Redis with
``appendfsync`` set to it). ``--pairs`` sender/receiver pairs connect straight to the node
(not through Toxiproxy); each sender keeps ``--window`` sends in flight, and every device
acks its pushes cumulatively. A message counts when its push reached the receiver: send
-> store -> send_ack -> push -> ack, end to end. The baseline is the same writes straight
to Redis: the node's own send script (``SEND_LUA``) through redis-py, the same number of
concurrent writers with the same window, pipelined. Prints one JSON object per line
(docs/architecture.md, "Benchmarks"):

- ``node_msgs_per_s_<policy>``, with ``baseline`` (Redis alone) and ``ratio`` node/Redis;
- ``node_msgs_per_core_s_<policy>``: messages per CPU-second the node process used;
- ``node_cpu_util_<policy>``: the node's CPU use over the run (1.0 = one core busy);
- ``send_ack_ms_p50_<policy>`` / ``_p99``: send to send_ack under this load.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import redis.asyncio as aioredis  # noqa: E402
from websockets.asyncio.client import connect  # noqa: E402

from imload.cluster import LocalCluster  # noqa: E402
from imload.protocol import direct_conv, mint_token  # noqa: E402
from reference_server.scripts import SEND_LUA  # noqa: E402

NODE_ARGS = ["--send-rate", "1000000", "--send-burst", "1000000", "--max-outbound",
             "1000000", "--login-rate", "100000"]


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Device:
    """One benchmark device: counts pushes, acks them cumulatively."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.useq = 0
        self.acked = 0
        self.pushes = 0

    async def maybe_ack(self, force: bool = False) -> None:
        if self.useq - self.acked >= 32 or (force and self.useq > self.acked):
            self.acked = self.useq
            await self.ws.send(orjson.dumps({"t": "ack", "upto": self.useq}).decode())


async def login(url: str, secret: str, user: str, device: str) -> Device:
    ws = await connect(url, max_size=2**20, compression=None, ping_interval=None,
                       open_timeout=10, max_queue=1024)
    await ws.send(orjson.dumps({"t": "login", "rid": 1,
                                "token": mint_token(secret, user, device)}).decode())
    ok = orjson.loads(await ws.recv())
    assert ok["t"] == "login_ok", ok
    return Device(ws)


async def run_pair(url: str, secret: str, i: int, window: int, stop_at: float,
                   stats: dict[str, Any]) -> None:
    alice, bob = f"a{i}-{os.getpid()}", f"b{i}-{os.getpid()}"
    conv = direct_conv(alice, bob)
    sender = await login(url, secret, alice, "s")
    receiver = await login(url, secret, bob, "r")
    sent_at: dict[int, float] = {}
    rid = 1

    async def send_one() -> None:
        nonlocal rid
        rid += 1
        sent_at[rid] = time.perf_counter()
        await sender.ws.send(orjson.dumps({"t": "send", "rid": rid, "cmid": f"c{rid}",
                                           "conv": conv, "body": "hello there"}).decode())

    async def sender_loop() -> None:
        for _ in range(window):
            await send_one()
        while True:
            frame = orjson.loads(await sender.ws.recv())
            t = frame["t"]
            if t == "send_ack":
                started = sent_at.pop(frame["rid"])
                now = time.perf_counter()
                if stats["measuring"]:
                    stats["ack_ms"].append((now - started) * 1000)
                if now < stop_at:
                    await send_one()
                elif not sent_at:
                    return
            elif t == "msg":
                sender.useq = frame["useq"]
                await sender.maybe_ack()
            else:
                raise RuntimeError(f"unexpected frame {frame}")

    async def receiver_loop() -> None:
        while True:
            try:
                frame = orjson.loads(await asyncio.wait_for(receiver.ws.recv(), 2.0))
            except TimeoutError:
                return
            if frame["t"] == "msg":
                receiver.useq = frame["useq"]
                if stats["measuring"]:
                    stats["delivered"] += 1
                await receiver.maybe_ack()

    await asyncio.gather(sender_loop(), receiver_loop())
    await sender.maybe_ack(force=True)
    await receiver.maybe_ack(force=True)
    await sender.ws.close()
    await receiver.ws.close()


async def node_run(url: str, secret: str, pid: int, pairs: int, window: int,
                   seconds: float) -> dict[str, float]:
    """Connect the pairs, warm up, measure ``seconds``, then let the senders drain."""
    stats: dict[str, Any] = {"measuring": False, "delivered": 0, "ack_ms": []}
    warmup = 2.0
    stop_at = time.perf_counter() + warmup + seconds + 0.5
    tasks = [asyncio.create_task(run_pair(url, secret, i, window, stop_at, stats))
             for i in range(pairs)]
    await asyncio.sleep(warmup)
    stats["measuring"] = True
    cpu0, t0 = cpu_s(pid), time.perf_counter()
    await asyncio.sleep(seconds)
    stats["measuring"] = False
    cpu1, t1 = cpu_s(pid), time.perf_counter()
    delivered = stats["delivered"]
    await asyncio.gather(*tasks)
    acks = sorted(stats["ack_ms"])
    elapsed = t1 - t0
    return {"msgs_per_s": delivered / elapsed, "cpu_util": (cpu1 - cpu0) / elapsed,
            "per_core": delivered / max(cpu1 - cpu0, 1e-9),
            "ack_p50": acks[len(acks) // 2] if acks else 0.0,
            "ack_p99": acks[int(len(acks) * 0.99)] if acks else 0.0}


async def redis_run(redis_url: str, writers: int, window: int, seconds: float) -> float:
    """The node's send script straight to Redis: ``writers`` tasks, ``window`` per pipeline."""
    client = aioredis.Redis.from_url(redis_url, max_connections=writers + 4)
    script = client.register_script(SEND_LUA)
    await script(keys=["k", "k:seq", "mid", "k:mver", "u:x:useq", "u:x:inbox"],
                 args=["warm", "d:x:y", 0, ',"kind":"text"}', "", "", "", "x"])
    counted = [0]
    measuring = [False]
    stop = [False]

    async def writer(w: int) -> None:
        a, b = f"ra{w}", f"rb{w}"
        conv = direct_conv(a, b)
        n = 0
        while not stop[0]:
            pipe = client.pipeline(transaction=False)
            for _ in range(window):
                n += 1
                server_ts = int(time.time() * 1000)
                tail = "," + orjson.dumps({
                    "conv": conv, "from": a, "from_device": "s", "cmid": f"c{n}",
                    "body": "hello there", "server_ts": server_ts, "kind": "text"}
                ).decode()[1:]
                keys = [f"u:{a}:cmids", f"c:{conv}:seq", "mid", f"c:{conv}:mver",
                        f"u:{a}:useq", f"u:{a}:inbox", f"u:{b}:useq", f"u:{b}:inbox"]
                await script(keys=keys, args=[f"c{n}", conv, server_ts, tail, "", "", "",
                                              a, b], client=pipe)
            await pipe.execute()
            if measuring[0]:
                counted[0] += window

    tasks = [asyncio.create_task(writer(w)) for w in range(writers)]
    await asyncio.sleep(1.0)
    measuring[0] = True
    t0 = time.perf_counter()
    await asyncio.sleep(seconds)
    measuring[0] = False
    elapsed = time.perf_counter() - t0
    stop[0] = True
    await asyncio.gather(*tasks)
    await client.aclose()
    return counted[0] / elapsed


def emit(figure: str, value: float, unit: str, **extra: float) -> None:
    row: dict[str, Any] = {"figure": figure, "value": round(value, 3), "unit": unit}
    row.update({k: round(v, 3) for k, v in extra.items()})
    print(orjson.dumps(row).decode(), flush=True)


def run_loop(coro: Any) -> Any:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


def client_process(url: str, secret: str, pid: int, pairs: int, window: int, seconds: float,
                   out: Any) -> None:
    out.put(run_loop(node_run(url, secret, pid, pairs, window, seconds)))


def drive_node(url: str, secret: str, pid: int, pairs: int, window: int, seconds: float,
               procs: int) -> dict[str, float]:
    """Run the pairs in ``procs`` client processes (the clients cost CPU too); sum rates."""
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    workers = [ctx.Process(target=client_process, args=(url, secret, pid, pairs // procs,
                                                        window, seconds, out))
               for _ in range(procs)]
    for w in workers:
        w.start()
    results = [out.get(timeout=seconds + 120) for _ in workers]
    for w in workers:
        w.join(30)
    acks = [r for r in results if r["ack_p50"]]
    return {"msgs_per_s": sum(r["msgs_per_s"] for r in results),
            "cpu_util": results[0]["cpu_util"],
            "per_core": sum(r["msgs_per_s"] for r in results) / max(results[0]["cpu_util"],
                                                                    1e-9),
            "ack_p50": max(r["ack_p50"] for r in acks) if acks else 0.0,
            "ack_p99": max(r["ack_p99"] for r in acks) if acks else 0.0}


def bench_policy(policy: str, pairs: int, window: int, seconds: float, procs: int) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-server-") as tmp:
        cluster = LocalCluster(Path(tmp), nodes=1, appendfsync=policy, node_args=NODE_ARGS,
                               store_proxy=False)
        cluster.start()
        try:
            pid = cluster.parts["n1"].pid
            assert pid is not None
            node = drive_node(cluster.node_url("n1", direct=True), cluster.secret, pid, pairs,
                              window, seconds, procs)
            baseline = run_loop(redis_run(cluster.redis_url, pairs, window, seconds))
        finally:
            cluster.stop()
    emit(f"node_msgs_per_s_{policy}", node["msgs_per_s"], "msg/s", baseline=baseline,
         ratio=node["msgs_per_s"] / baseline)
    emit(f"node_msgs_per_core_s_{policy}", node["per_core"], "msg/cpu-s")
    emit(f"node_cpu_util_{policy}", node["cpu_util"], "cores")
    emit(f"send_ack_ms_p50_{policy}", node["ack_p50"], "ms")
    emit(f"send_ack_ms_p99_{policy}", node["ack_p99"], "ms")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="short runs (about 30 s in all)")
    p.add_argument("--pairs", type=int, default=50)
    p.add_argument("--window", type=int, default=20)
    p.add_argument("--seconds", type=float, default=None)
    p.add_argument("--procs", type=int, default=2, help="client processes")
    p.add_argument("--fsync", default="always,everysec",
                   help="AOF fsync policies to measure, comma-separated")
    ns = p.parse_args(argv)
    seconds = ns.seconds or (4.0 if ns.quick else 15.0)
    for policy in ns.fsync.split(","):
        bench_policy(policy.strip(), ns.pairs, ns.window, seconds, ns.procs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
