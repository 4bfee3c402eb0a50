"""Throw structure-aware mutated frames (frame_mutations.py) at a node, pipelined over a few
connections, and tally what it answers: the fuzz test (test_reference_server_fuzz.py) and
its full-size run (benchmarks/bench_fuzz.py) share it.

Each connection is a device of its own, logged in, that writes ``pipeline`` frames without
waiting, then a ping, and reads everything up to the pong: the node answers each frame
(a reply or an error) or ignores it, never crashes. A connection the node closes (a frame
over the size limit: 1009) is opened again. Frames are made before the clock starts.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import orjson
from frame_mutations import mutated_frame
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

PING_RID = 3 * 2**60  # the pings' rids: far from any rid a mutated frame carries
# connections at once: the node handles one frame of a connection at a time, each waiting
# on the store, so the rate grows with connections until the node is busy
CONNS = 48
# node flags that keep the fuzzed frames off the limits, so they reach the handlers
UNLIMITED = ["--max-bad-frames", "100000000", "--device-rate", "1e9", "--device-burst",
             "1000000000", "--user-rate", "1e9", "--user-burst", "1000000000"]


@dataclass
class Tally:
    frames: int = 0
    closes: int = 0
    seen: Counter[str] = field(default_factory=Counter)  # reply types and error:<code>
    seconds: float = 0.0


def _open(stack: contextlib.ExitStack, url: str, token: str) -> ClientConnection:
    ws = stack.enter_context(connect(url, open_timeout=10, close_timeout=1, max_size=None))
    ws.send(orjson.dumps({"t": "login", "rid": 1, "token": token}).decode())
    reply = orjson.loads(ws.recv(timeout=10))
    assert reply.get("t") == "login_ok", reply
    return ws


def _throw(url: str, token: str, batches: list[list[str]], pings: int) -> Tally:
    tally = Tally()
    with contextlib.ExitStack() as stack:
        ws = _open(stack, url, token)
        for batch in batches:
            pings += 1
            try:
                for text in batch:
                    ws.send(text)
                ws.send(orjson.dumps({"t": "ping", "rid": PING_RID + pings}).decode())
                tally.frames += len(batch)
                while True:
                    frame = orjson.loads(ws.recv(timeout=30))
                    if frame.get("rid") == PING_RID + pings and frame.get("t") == "pong":
                        break
                    t = frame.get("t")
                    tally.seen[f"error:{frame.get('code')}" if t == "error" else str(t)] += 1
            except ConnectionClosed as e:
                assert e.rcvd is not None and e.rcvd.code in (1008, 1009), e
                tally.closes += 1
                ws = _open(stack, url, token)
    return tally


def throw_mutated(url: str, token_for: Callable[[str], str], users: list[str], count: int,
                  seed: int, pipeline: int = 250) -> Tally:
    """``count`` mutated frames, split over one connection per user of ``users`` (each the
    sender of its share, ``token_for(user)`` its login), ``pipeline`` at a time."""
    rng = random.Random(seed)
    work = []
    for i, user in enumerate(users):
        peer = users[(i + 1) % len(users)]
        texts = [mutated_frame(user, peer, rng, n) for n in range(i, count, len(users))]
        work.append((token_for(user), [texts[j:j + pipeline]
                                       for j in range(0, len(texts), pipeline)], i * 10**9))
    started = time.monotonic()
    with ThreadPoolExecutor(len(users)) as pool:
        parts = list(pool.map(lambda w: _throw(url, *w), work))
    total = Tally(seconds=time.monotonic() - started)
    for part in parts:
        total.frames += part.frames
        total.closes += part.closes
        total.seen.update(part.seen)
    return total
