"""Structure-aware fuzzing: valid protocol-v1 requests and LBS HTTP requests, each with one
thing changed (pure; a seeded ``random.Random`` makes every run the same).

``mutated_frame(me, other, rng)`` takes a valid request of a random type (every request
type, every op kind, with values a logged-in ``me`` could really send to ``other``), then
changes one field: drops it, gives it an odd value (each JSON type, boundary and negative
integers, huge numbers, long (to 20,000 characters), empty, non-ASCII and control-character
strings, lone surrogates, a byte-order mark, bidi and zero-width marks, emoji, names that
are not names, nested lists), adds an unknown field, or changes the type name. Such frames
pass the outer checks and reach the
handlers, where a random byte string never gets. ``mutated_http(rng)`` does the same to a
valid LBS route request: method, path, query, version, headers, line endings.
"""

from __future__ import annotations

import json
import random
from typing import Any

ODD: tuple[Any, ...] = (
    None, True, False, 0, -1, 1, 2**31, 2**53 + 1, 2**63 - 1, -2**63, 2**64, 10**30, 1.5,
    -0.0, 1e308, -1e308, "", " ", "x" * 70, "y" * 5000, "w" * 20_000, "a b", "é" * 30,
    "\u0000", "\ud7ff" * 3, "\ud800", "\udfff\ud800", "\ufeff", "\u202eevil", "\u200d" * 9,
    "\U0001f44d" * 10, "\x1b[31m", "../../etc/passwd", "d:a:b", "g:", "g:" + "z" * 70,
    "d:x:x", [], [1, 2], ["alice", "bob"], {}, {"a": 1}, {"op": "group_add"}, [[[[[]]]]],
    [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]],
)


def templates(me: str, other: str, n: int) -> list[dict[str, Any]]:
    """Valid requests ``me`` could send (``n`` makes ids and groups fresh)."""
    direct = f"d:{min(me, other)}:{max(me, other)}"
    group = f"g:f{n}"
    op = {"t": "op", "rid": n, "opid": f"o{n}"}
    return [
        {"t": "send", "rid": n, "cmid": f"c{n}", "conv": direct, "body": "hi", "ts": 1},
        {"t": "ack", "upto": 1},
        {"t": "sync", "rid": n, "after": 0, "limit": 5},
        {"t": "read", "rid": n, "conv": direct, "upto": 1},
        {"t": "reads", "rid": n},
        {"t": "ping", "rid": n, "ts": 1},
        {"t": "state", "rid": n},
        {"t": "login", "rid": n, "token": "x.y.z", "ts": 1},
        {**op, "kind": "group_create", "args": {"conv": group, "members": [other]}},
        {**op, "kind": "group_add", "args": {"conv": group, "user": other}},
        {**op, "kind": "group_remove", "args": {"conv": group, "user": other}},
        {**op, "kind": "contact_add", "args": {"user": other}},
        {**op, "kind": "contact_remove", "args": {"user": other}},
        {**op, "kind": "pin", "args": {"conv": direct, "pinned": True}},
    ]


def mutated_frame(me: str, other: str, rng: random.Random, n: int = 0) -> str:
    """One valid request of a random type with one thing changed, as JSON text."""
    frame = rng.choice(templates(me, other, n))
    holder = frame["args"] if "args" in frame and rng.random() < 0.5 else frame
    keys = [k for k in holder if k != "t"] or ["t"]
    what = rng.randrange(5)
    key = rng.choice(keys)
    if what == 0:
        holder.pop(key, None)
    elif what == 1:
        holder[key] = rng.choice(ODD)
    elif what == 2:
        holder[rng.choice(("zz", "rid", "t", "args", "from", "user"))] = rng.choice(ODD)
    elif what == 3:
        frame["t"] = rng.choice(("snd", "SEND", "op ", "", "msg", "error", "login_ok"))
    else:
        holder[key] = rng.choice(ODD)
        other_key = rng.choice(keys)
        holder.pop(other_key, None)
    return json.dumps(frame)


def mutated_http(rng: random.Random) -> bytes:
    """One LBS route request with one thing changed (or a few bytes of it cut off)."""
    method, path, query, version = "GET", "/v1/route", "user=alice&device=phone", "HTTP/1.1"
    headers = [("Host", "lbs"), ("Accept", "*/*")]
    what = rng.randrange(8)
    if what == 0:
        method = rng.choice(("POST", "PUT", "G\x00T", "", "GET GET", "get"))
    elif what == 1:
        path = rng.choice(("/", "/v1/route/", "//v1/route", "/v1/%zz", "/" + "a" * 9000,
                           "/healthz?x=" + "%" * 50, "*", "http://x/v1/route"))
    elif what == 2:
        query = rng.choice(("", "user=&device=", "user=a%00b&device=d", "user=" + "u" * 100,
                            "user=alice&user=bob&device=d", "&&&", "user=é&device=d",
                            "%ff%fe=1"))
    elif what == 3:
        version = rng.choice(("HTTP/1.0", "HTTP/2.0", "HTTP/1.1x", "", "FOO/1.1"))
    elif what == 4:
        headers.append(rng.choice((("Content-Length", "-1"), ("Content-Length", "99"),
                                   ("Transfer-Encoding", "chunked"), ("X", "y" * 20_000),
                                   ("Bad Header", "1"), ("Host", ""), ("Connection", "close"),
                                   ("Expect", "100-continue"))))
    elif what == 5:
        headers = []
    head = f"{method} {path}?{query} {version}\r\n".encode("utf-8", "surrogatepass")
    head += b"".join(f"{k}: {v}\r\n".encode() for k, v in headers) + b"\r\n"
    if what == 6:
        head = head.replace(b"\r\n", rng.choice((b"\n", b"\r", b"\r\r\n")))
    elif what == 7:
        head = head[:rng.randrange(1, len(head))]
    return head
