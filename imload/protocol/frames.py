"""Frames of protocol v1 and their codec: one JSON object per WebSocket text frame.

``decode_frame`` turns text into a dict or raises ``FrameError`` carrying the
error code the server answers with; ``validate_request`` checks a client
request's fields against ``REQUEST_FIELDS``. Both are pure.
"""

from __future__ import annotations

from typing import Any

import orjson

MAX_FRAME_BYTES = 64 * 1024

# Close codes (PROTOCOL.md, "Errors and closes").
CLOSE_REPLACED = 4001
CLOSE_AUTH_FAILED = 4002
CLOSE_OVERLOADED = 4003
CLOSE_IDLE = 4004
CLOSE_TOO_MANY_BAD = 1008
CLOSE_TOO_BIG = 1009

# Error codes of the ``error`` frame.
BAD_FRAME = "bad_frame"
UNKNOWN_TYPE = "unknown_type"
UNAUTHENTICATED = "unauthenticated"
FORBIDDEN = "forbidden"
RATE_LIMITED = "rate_limited"
OVERLOADED = "overloaded"
INTERNAL = "internal"

_INT = (int,)
_STR = (str,)
_OBJ = (dict,)
_LIST = (list,)
_BOOL = (bool,)

# type -> {field: (allowed python types, required)}; ``rid`` is required on every request.
REQUEST_FIELDS: dict[str, dict[str, tuple[tuple[type, ...], bool]]] = {
    "login": {"token": (_STR, True), "ts": (_INT, False)},
    "send": {"cmid": (_STR, True), "conv": (_STR, True), "body": (_STR, True),
             "ts": (_INT, False)},
    "ack": {"upto": (_INT, True)},
    "sync": {"after": (_INT, True), "limit": (_INT, False)},
    "read": {"conv": (_STR, True), "upto": (_INT, True)},
    "reads": {},
    "ping": {"ts": (_INT, False)},
    "op": {"opid": (_STR, True), "kind": (_STR, True), "args": (_OBJ, True)},
    "state": {},
}
# Requests without a reply carry no rid.
NO_RID = frozenset({"ack"})
MAX_ID_LEN = 64


class FrameError(ValueError):
    """A frame the receiver cannot act on; ``code`` is the protocol error code."""

    def __init__(self, code: str, msg: str, rid: int | None = None) -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg
        self.rid = rid

    def to_frame(self) -> dict[str, Any]:
        """The ``error`` frame that answers this failure."""
        frame: dict[str, Any] = {"t": "error", "code": self.code, "msg": self.msg}
        if self.rid is not None:
            frame["rid"] = self.rid
        return frame


def encode_frame(frame: dict[str, Any]) -> str:
    """Serialise a frame to the text of one WebSocket message."""
    return orjson.dumps(frame).decode()


def decode_frame(data: str | bytes) -> dict[str, Any]:
    """Parse one text frame into a dict with a string ``t``; raise FrameError(bad_frame)."""
    if isinstance(data, bytes | bytearray | memoryview):
        raise FrameError(BAD_FRAME, "binary frames are not accepted; send JSON text")
    try:
        frame = orjson.loads(data)
    except orjson.JSONDecodeError as e:
        raise FrameError(BAD_FRAME, f"not JSON: {e}") from None
    if not isinstance(frame, dict):
        raise FrameError(BAD_FRAME, f"a frame must be a JSON object, got {type(frame).__name__}")
    t = frame.get("t")
    if not isinstance(t, str):
        raise FrameError(BAD_FRAME, "a frame needs a string field 't' (its type)",
                         _rid_of(frame))
    return frame


def _rid_of(frame: dict[str, Any]) -> int | None:
    rid = frame.get("rid")
    return rid if _is_int(rid) else None


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def validate_request(frame: dict[str, Any]) -> None:
    """Check a decoded client request; raise FrameError naming the first wrong field."""
    t = frame["t"]
    rid = _rid_of(frame)
    fields = REQUEST_FIELDS.get(t)
    if fields is None:
        raise FrameError(UNKNOWN_TYPE, f"unknown frame type {t!r}", rid)
    if t not in NO_RID and rid is None:
        raise FrameError(BAD_FRAME, f"{t}: field 'rid' must be an integer")
    for name, (types, required) in fields.items():
        if name not in frame:
            if required:
                raise FrameError(BAD_FRAME, f"{t}: missing field {name!r}", rid)
            continue
        value = frame[name]
        ok = _is_int(value) if types is _INT else isinstance(value, types)
        if not ok:
            want = "integer" if types is _INT else types[0].__name__
            raise FrameError(BAD_FRAME, f"{t}: field {name!r} must be {want}", rid)
        if types is _STR and name in ("cmid", "opid") and not 0 < len(value) <= MAX_ID_LEN:
            raise FrameError(BAD_FRAME, f"{t}: field {name!r} must be 1 to {MAX_ID_LEN} chars",
                             rid)
