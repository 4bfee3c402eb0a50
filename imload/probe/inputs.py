"""Input: frames no client should send. For each, the node answers an error or closes that
one connection, never accepts the frame as if it were well formed, and serves on: the
probe then logs in afresh and pings. The malformed frames (``WRONG_TYPES``,
``UNKNOWN_TYPES``, ``MALFORMED``) are also what ``leaks.error_frames`` reads the errors of.
"""

from __future__ import annotations

from typing import Any

from imload.probe.base import FAIL, Check, Finding, Probe, Verdict, answers, serves_on
from imload.probe.link import Link
from imload.protocol import REPLY_TYPES, direct_conv
from imload.protocol.frames import INTERNAL

OVERSIZE = 2 << 20  # bytes of padding in one frame


def wrong_types(me: str, other: str) -> list[dict[str, Any]]:
    """Requests of every kind with one field of the wrong type (or out of range)."""
    conv = direct_conv(me, other)
    return [
        {"t": "send", "rid": 1, "cmid": 5, "conv": conv, "body": "x"},
        {"t": "send", "rid": 2, "cmid": "probe-wt", "conv": ["d", me], "body": "x"},
        {"t": "send", "rid": 3, "cmid": "probe-wt", "conv": conv, "body": {"text": "x"}},
        {"t": "sync", "rid": 4, "after": "0"},
        {"t": "sync", "rid": 5, "after": True},
        {"t": "sync", "rid": 6, "after": 0, "limit": -1},
        {"t": "read", "rid": 7, "conv": conv, "upto": 1.5},
        {"t": "read", "rid": 8, "conv": conv, "upto": -5},
        {"t": "ack", "upto": "all"},
        {"t": "ping", "rid": "9"},
        {"t": "op", "rid": 10, "opid": "probe-wt", "kind": "pin", "args": []},
        {"t": "op", "rid": 11, "opid": "probe-wt", "kind": "contact_add", "args": {"user": 42}},
    ]


UNKNOWN_TYPES: list[dict[str, Any]] = [
    {"t": "nope", "rid": 21}, {"t": "msg", "rid": 22}, {"t": "login_ok", "rid": 23},
    {"t": "LOGIN", "rid": 24}, {"t": "", "rid": 25}, {"t": "__class__", "rid": 26},
    {"rid": 27}, {"t": 5, "rid": 28},
]
# not a request at all (text frames, and a binary one)
MALFORMED: list[str | bytes] = [
    "{", "[]", "null", '{"t": "ping", "rid": 1', bytes(range(256)),
    "[" * 30_000 + "]" * 30_000,
]


def _accepted(frame: dict[str, Any], seen: list[dict[str, Any]]) -> str | None:
    """Why the node's answer ``seen`` to a malformed ``frame`` is wrong, or None."""
    for reply in seen:
        if reply.get("t") == "error" and reply.get("code") == INTERNAL:
            return f"{frame} answered internal: it reached a handler that failed"
        if reply.get("t") not in (None, "error") and reply.get("t") == REPLY_TYPES.get(
                str(frame.get("t"))):
            return f"{frame} accepted: answered {reply.get('t')}"
    return None


def _battery(frames: list[dict[str, Any]]) -> Any:
    def attack(link: Link) -> str:
        codes: dict[str, int] = {}
        for frame in frames:
            seen = answers(link, frame)
            wrong = _accepted(frame, seen)
            if wrong:
                raise Verdict(Finding(FAIL, wrong))
            code = next((str(f.get("code")) for f in seen if f.get("t") == "error"),
                        "ignored")
            codes[code] = codes.get(code, 0) + 1
        return "answered " + ", ".join(f"{n} {code}" for code, n in sorted(codes.items()))
    return attack


def oversize(p: Probe) -> Finding:
    def attack(link: Link) -> str:
        link.send({"t": "ping", "rid": 1, "pad": "x" * OVERSIZE})
        return f"answered {link.recv().get('t')}"
    return serves_on(p, "a 2 MiB frame", attack)


def binary(p: Probe) -> Finding:
    def attack(link: Link) -> str:
        link.send(bytes(range(256)))
        return f"answered {link.recv().get('code')}"
    return serves_on(p, "a binary frame", attack)


def deep_nesting(p: Probe) -> Finding:
    def attack(link: Link) -> str:
        link.send("[" * 100_000 + "]" * 100_000)
        return f"answered {link.recv().get('code')}"
    return serves_on(p, "JSON nested 100,000 deep", attack)


INVALID_UTF8 = b'{"t": "ping", "rid": 7, "pad": "\xc3\x28 \xff\xfe \xed\xa0\x80"}'


def invalid_utf8(p: Probe) -> Finding:
    def attack(link: Link) -> str:
        seen = answers(link, INVALID_UTF8, text=True)
        return f"answered {[f.get('code', f.get('t')) for f in seen]}"
    return serves_on(p, "a text frame of invalid UTF-8", attack)


def wrong_type_fields(p: Probe) -> Finding:
    return serves_on(p, "requests with fields of the wrong type",
                     _battery(wrong_types(p.users[0], p.users[1])), login=True)


def unknown_types(p: Probe) -> Finding:
    return serves_on(p, "frames of unknown types", _battery(UNKNOWN_TYPES), login=True)


INPUT_CHECKS: tuple[Check, ...] = (
    Check("input.oversize", "stops serving after a 2 MiB frame", oversize),
    Check("input.binary", "stops serving after a binary frame", binary),
    Check("input.deep_nesting", "stops serving after JSON nested 100,000 deep", deep_nesting),
    Check("input.invalid_utf8", "stops serving after a text frame that is not UTF-8",
          invalid_utf8),
    Check("input.wrong_types", "accepts, fails on or stops serving after requests whose "
          "fields have the wrong type", wrong_type_fields),
    Check("input.unknown_types", "accepts, fails on or stops serving after frames of "
          "unknown types", unknown_types),
)
