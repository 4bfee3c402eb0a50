"""Node presence: every second a node writes its public URL and load into the store, with a
short expiry, so the LBS hands out live nodes only. A node that stops reporting (killed,
cut off from the store) drops out of the LBS's answers within ``TTL_MS``.

Keys: ``nodes`` (set of node ids) and ``node:<id>`` (JSON ``{id, url, load, conns,
limit}``, expiring after ``TTL_MS``). ``read_nodes`` is what the LBS calls.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError

TTL_MS = 3000
NODES_KEY = "nodes"


def node_key(node_id: str) -> str:
    return f"node:{node_id}"


async def report_forever(client: aioredis.Redis, node_id: str,
                         facts: Callable[[], dict[str, Any]], log: logging.Logger,
                         every_s: float = 1.0) -> None:
    """Write ``facts()`` under ``node:<id>`` every ``every_s`` until cancelled."""
    down = False
    while True:
        try:
            pipe = client.pipeline(transaction=False)
            pipe.sadd(NODES_KEY, node_id)
            pipe.set(node_key(node_id), orjson.dumps({"id": node_id, **facts()}), px=TTL_MS)
            await pipe.execute()
            if down:
                log.info("presence reports resumed")
            down = False
        except (RedisError, OSError) as e:
            if not down:
                log.warning("presence report failed: %s: %s", type(e).__name__, e)
            down = True
        await asyncio.sleep(every_s)


async def withdraw(client: aioredis.Redis, node_id: str) -> None:
    """Remove the node's presence at a clean stop (best effort)."""
    try:
        await client.delete(node_key(node_id))
    except (RedisError, OSError):
        pass


async def read_nodes(client: aioredis.Redis) -> list[dict[str, Any]]:
    """Every node whose presence has not expired (what the LBS hands out)."""
    ids = sorted(await client.smembers(NODES_KEY))
    if not ids:
        return []
    rows = await client.mget([node_key(i.decode() if isinstance(i, bytes) else i)
                              for i in ids])
    out: list[dict[str, Any]] = []
    for row in rows:
        if row is None:
            continue
        try:
            node = orjson.loads(row)
        except orjson.JSONDecodeError:
            continue
        if isinstance(node, dict) and isinstance(node.get("url"), str):
            out.append(node)
    return out
