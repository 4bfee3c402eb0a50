"""What do the request limits (reference_server/limits.py) cost a request?

    .venv/bin/python benchmarks/bench_limits.py [--quick]

A private local cluster of two nodes on one Redis (``appendfsync everysec``, so the figures
show the work, not the disk): ``n1`` limits requests per user and device as shipped (with
buckets too big to refuse anything), ``n2`` runs the ``per-connection-limits`` bug mode,
the node before issue #15 (no store call for a ping or a sync's limit). Prints one JSON
object per line (docs/architecture.md, "Benchmarks"), each with ``baseline`` (without the
limit) and ``ratio`` (with / without), measured in the same run, best of ``ROUNDS``:

- ``store_send_us``: one direct message's store script, pipelined 64 deep as a node writes
  them, with the limit's guard inside it (``LIMITED_SEND_LUA``) against the bare script;
- ``node_ping_us``, ``node_sync_us``: a ping, and a sync of an empty inbox, as one
  connection sends them 100 at a time to each node (wall time per request, the node's
  turn around, its limit's extra store round trip included).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from websockets.asyncio.client import connect  # noqa: E402

from imload.cluster import LocalCluster  # noqa: E402
from imload.protocol import direct_conv, mint_token  # noqa: E402
from reference_server.store import Store  # noqa: E402

HUGE = ["--device-rate", "1e9", "--device-burst", "1000000000"]
ROUNDS = 3


def emit(figure: str, value: float, baseline: float, unit: str) -> None:
    print(orjson.dumps({"figure": figure, "value": round(value, 2), "unit": unit,
                        "baseline": round(baseline, 2),
                        "ratio": round(value / baseline, 3)}).decode(), flush=True)


async def store_sends(url: str, n: int, limited: bool, tag: str) -> float:
    """Microseconds per send script, ``n`` of them 64 in flight."""
    store = Store(url)
    await store.ping()
    await store.take(([f"rl:u:{tag}", f"rl:d:{tag}:d"], [1, 1e9, 10**9, 1e9, 10**9]))
    limit = ([f"rl:u:{tag}", f"rl:d:{tag}:d"], [1, 1e9, 10**9, 1e9, 10**9]) if limited \
        else None
    conv = direct_conv(tag, "peer")
    started = time.perf_counter()
    inflight: list[asyncio.Future[Any]] = []
    for i in range(n):
        inflight.append(store.start_send(tag, "d", f"c{i}", conv, [tag, "peer"], "x", None,
                                         0, limit))
        if len(inflight) >= 64:
            await inflight.pop(0)
    await asyncio.gather(*inflight)
    took = time.perf_counter() - started
    await store.aclose()
    return took / n * 1e6


async def node_requests(url: str, secret: str, user: str, frame: dict[str, Any], n: int
                        ) -> float:
    """Microseconds per request on one connection, 100 in flight at a time."""
    async with connect(url, max_size=None, compression=None, ping_interval=None) as ws:
        await ws.send(orjson.dumps({"t": "login", "rid": 1,
                                    "token": mint_token(secret, user, "d")}).decode())
        assert orjson.loads(await ws.recv())["t"] == "login_ok"
        started = time.perf_counter()
        for base in range(0, n, 100):
            for rid in range(base + 2, base + 102):
                await ws.send(orjson.dumps({**frame, "rid": rid}).decode())
            for _ in range(100):
                reply = orjson.loads(await ws.recv())
                assert reply["t"] != "error", reply
        return (time.perf_counter() - started) / n * 1e6


async def measure(cluster: LocalCluster, sends: int, requests: int) -> None:
    best: dict[str, list[float]] = {}

    def keep(name: str, value: float) -> None:
        best[name] = [min(v, value) for v in best[name]] if name in best else [value]

    for r in range(ROUNDS):
        for limited in (False, True):
            keep(f"send{limited}", await store_sends(cluster.redis_url, sends, limited,
                                                     f"b{r}{limited}"))
        for name, frame in (("ping", {"t": "ping"}), ("sync", {"t": "sync", "after": 0})):
            for node in ("n2", "n1"):
                keep(f"{name}{node}", await node_requests(
                    cluster.node_url(node, direct=True), cluster.secret, f"u{r}{node}{name}",
                    frame, requests))
    emit("store_send_us", best["sendTrue"][0], best["sendFalse"][0], "us")
    emit("node_ping_us", best["pingn1"][0], best["pingn2"][0], "us")
    emit("node_sync_us", best["syncn1"][0], best["syncn2"][0], "us")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer requests (CI)")
    args = parser.parse_args()
    sends, requests = (5_000, 2_000) if args.quick else (30_000, 10_000)
    with tempfile.TemporaryDirectory() as tmp:
        cluster = LocalCluster(Path(tmp), nodes=2, appendfsync="everysec", node_args=HUGE,
                               per_node_args={"n2": ["--bug", "per-connection-limits"]})
        try:
            cluster.start()
            asyncio.run(measure(cluster, sends, requests))
        finally:
            cluster.stop()


if __name__ == "__main__":
    main()
