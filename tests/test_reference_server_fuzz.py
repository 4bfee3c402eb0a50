"""Fuzz: more than 10,000 generated frames (hypothesis, derandomized) thrown at a live node
over WebSocket: malformed JSON, wrong types, unknown types and fields, deep nesting,
binary frames, valid-looking requests with odd values. The node answers each with a reply
or an error, never crashes, and still serves; its log holds no traceback."""

from __future__ import annotations

import contextlib
import json
import os
import random
from pathlib import Path
from typing import Any

import pytest
from conftest import OwnNode, WsClient, own_node, unique
from frame_mutations import mutated_http
from fuzz_client import CONNS, UNLIMITED, throw_mutated
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed

from imload.cluster import LocalCluster
from imload.protocol import OP_ARGS, REQUEST_FIELDS, mint_token

pytestmark = pytest.mark.integration

EXAMPLES = 700
FRAMES = (15, 25)  # per example: at least 10,500 frames in all
PING_RIDS = 3 * 2**60 + 7_777  # the test's own pings: far from any rid a frame is given

scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70),
                    st.floats(allow_nan=False), st.text(max_size=40))
json_values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=12)
names = st.sampled_from(["alice", "bob", "g:team", "d:alice:bob", "", "x" * 70, "a b"])
field_names = sorted({f for fields in REQUEST_FIELDS.values() for f in fields} |
                     {f for args in OP_ARGS.values() for f in args} | {"rid", "t"})


@st.composite
def requests(draw: st.DrawFn) -> dict[str, Any]:
    """A frame shaped like a request: a known or unknown type, some known fields with odd
    values, maybe extra fields."""
    t = draw(st.one_of(st.sampled_from(sorted(REQUEST_FIELDS)), st.text(max_size=10)))
    frame: dict[str, Any] = {"t": t}
    if draw(st.booleans()):
        frame["rid"] = draw(st.one_of(st.integers(0, 2**31), json_values))
    for name in draw(st.lists(st.sampled_from(field_names), max_size=5)):
        frame[name] = draw(st.one_of(names, json_values))
    if t == "op" and draw(st.booleans()):
        frame["kind"] = draw(st.sampled_from(sorted(OP_ARGS)))
        frame["args"] = draw(st.dictionaries(st.sampled_from(field_names),
                                             st.one_of(names, json_values), max_size=3))
    return frame


frames = st.one_of(
    requests().map(json.dumps),
    json_values.map(json.dumps),
    st.text(max_size=100),
    st.binary(max_size=100),
    st.integers(1, 3000).map(lambda n: "[" * n + "]" * n),
    st.integers(1, 3000).map(lambda n: '{"t":' * n + "1" + "}" * n),
)


class Target:
    """One logged-in connection to the node, opened again whenever the node closed it."""

    def __init__(self, node: OwnNode, stack: contextlib.ExitStack) -> None:
        self.node, self.stack = node, stack
        self.client: WsClient | None = None
        self.frames = self.closes = self.pings = 0

    def connection(self) -> WsClient:
        if self.client is None:
            self.client = self.node.client(self.stack, unique("fuzz"))
        return self.client

    def ping(self, c: WsClient) -> dict[str, Any]:
        """A ping whose rid no generated frame carries (they draw rids below 2**31 or among
        a few boundary values), so the reply matched is the ping's own, not an error to a
        fuzz frame that happened to reuse the client's small counter."""
        self.pings += 1
        rid = PING_RIDS + self.pings
        c.send({"t": "ping", "rid": rid})
        while True:
            frame = c.recv(10)
            if frame.get("rid") == rid:
                return frame

    def throw(self, batch: list[str | bytes]) -> None:
        c = self.connection()
        try:
            for data in batch:
                c.send(data)
                self.frames += 1
            assert self.ping(c)["t"] == "pong"
            c.pushes.clear()
        except ConnectionClosed as e:
            assert e.rcvd is not None and e.rcvd.code in (1008, 1009), e
            self.closes += 1
            self.client = None


def test_ten_thousand_generated_frames_leave_the_node_serving(cluster: LocalCluster,
                                                             tmp_path: Path) -> None:
    with own_node(cluster, tmp_path, *UNLIMITED) as node, \
            contextlib.ExitStack() as stack:
        target = Target(node, stack)

        @settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
                  phases=[Phase.generate], suppress_health_check=list(HealthCheck))
        @given(st.lists(frames, min_size=FRAMES[0], max_size=FRAMES[1]))
        def throw(batch: list[str | bytes]) -> None:
            target.throw(batch)

        throw()
        assert target.frames >= 10_000, target.frames
        fresh = node.client(stack, unique("after"))
        assert fresh.request("ping")["t"] == "pong"
        assert fresh.request("send", cmid="c", conv="d:a:b", body="x")["code"] == "forbidden"


# Structure-aware: valid requests with one field changed (frame_mutations.py), pipelined
# over CONNS connections (fuzz_client.py). IMLOAD_FUZZ_MUTATED sets the count; the full
# 100,000 run is benchmarks/bench_fuzz.py (docs/protocol.md, "Robustness").
MUTATED = int(os.environ.get("IMLOAD_FUZZ_MUTATED", "30000"))
HTTP_MUTATED = max(500, MUTATED // 30)


def test_mutated_requests_reach_the_handlers_and_leave_the_node_serving(
        cluster: LocalCluster, tmp_path: Path) -> None:
    users = [unique("fuzz") for _ in range(CONNS)]
    with own_node(cluster, tmp_path, *UNLIMITED) as node, contextlib.ExitStack() as stack:
        tally = throw_mutated(node.url, lambda u: mint_token(cluster.secret, u, "d1"), users,
                              MUTATED, seed=11)
        assert tally.frames == MUTATED
        # the mutations reach the handlers: requests served, and refused for many reasons
        assert {"send_ack", "sync_batch", "read_ok", "op_ok", "state_ok"} <= set(tally.seen)
        assert {"error:bad_frame", "error:forbidden", "error:unknown_type"} <= set(tally.seen)
        assert "error:internal" not in tally.seen
        fresh = node.client(stack, unique("after"))
        assert fresh.request("ping")["t"] == "pong"
    # own_node: the node exited cleanly and its log holds no traceback


def test_mutated_http_requests_leave_the_lbs_serving(cluster: LocalCluster) -> None:
    import socket
    import urllib.request

    rng = random.Random(12)
    host, port = cluster.lbs_url.rsplit("/", 1)[-1].split(":")
    statuses: dict[bytes, int] = {}
    for _ in range(HTTP_MUTATED):
        with socket.create_connection((host, int(port)), timeout=15) as s:
            with contextlib.suppress(OSError):
                s.sendall(mutated_http(rng))
                s.shutdown(socket.SHUT_WR)  # a cut request ends here, not at the timeout
            reply = b""
            with contextlib.suppress(OSError):
                while chunk := s.recv(65536):
                    reply += chunk
            status = reply[9:12] if reply.startswith(b"HTTP/1.1 ") else b"---"
            statuses[status] = statuses.get(status, 0) + 1
    assert set(statuses) <= {b"200", b"400", b"404", b"405", b"413", b"414", b"431", b"505",
                             b"---"}, statuses
    assert statuses.get(b"400", 0) and statuses.get(b"200", 0)
    with urllib.request.urlopen(f"{cluster.lbs_url}/healthz", timeout=5) as r:
        assert r.status == 200
    log = Path(cluster.directory) / "logs" / "lbs.log"
    assert "Traceback" not in log.read_text()
