"""The hybrid display order of a conversation (the seed's "interpolation sort"), from the
fields every message carries on the wire: one sender's messages by the sender's local time
(``ts``), different senders' by server time (``server_ts``).

Each sender's messages form a chain sorted by ``(ts, seq)``; the chains are merged by
the ``server_ts`` of their heads. The client shows conversations in this order under its
``hybrid`` display policy (``imload.client.display``) and the checker rebuilds it to judge
what a device showed (``imload.check.display``): one function, so both agree.
"""

from __future__ import annotations

import heapq
from typing import Any


def _local_key(m: dict[str, Any]) -> tuple[int, int]:
    ts = m.get("ts")
    if not isinstance(ts, int) or isinstance(ts, bool):
        ts = m.get("server_ts") if isinstance(m.get("server_ts"), int) else 0
    return ts, m["seq"]


def _server_key(m: dict[str, Any]) -> int:
    st = m.get("server_ts")
    return st if isinstance(st, int) and not isinstance(st, bool) else 0


def hybrid_order(msgs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``msgs`` in the hybrid order: per-sender chains by local time, merged by server time."""
    chains: dict[object, list[dict[str, Any]]] = {}
    for m in msgs:
        chains.setdefault(m.get("from"), []).append(m)
    lists = list(chains.values())
    heap: list[tuple[int, int, int, int]] = []
    for i, chain in enumerate(lists):
        chain.sort(key=_local_key)
        heap.append((_server_key(chain[0]), chain[0]["seq"], i, 0))
    heapq.heapify(heap)
    out: list[dict[str, Any]] = []
    while heap:
        _, _, i, j = heapq.heappop(heap)
        chain = lists[i]
        out.append(chain[j])
        if j + 1 < len(chain):
            nxt = chain[j + 1]
            heapq.heappush(heap, (_server_key(nxt), nxt["seq"], i, j + 1))
    return out
