"""Frames of protocol v1 and their codec: one JSON object per WebSocket text frame.

``decode_frame`` turns text into a dict or raises ``FrameError`` carrying the
error code the server answers with; ``validate_request`` checks a client
request's fields against ``REQUEST_FIELDS``. Both are pure.
"""

from __future__ import annotations

from typing import Any

import orjson

from imload.protocol.names import is_valid_conv, is_valid_name

MAX_FRAME_BYTES = 64 * 1024

# Close codes (docs/protocol.md, "Errors and closes").
CLOSE_REPLACED = 4001
CLOSE_AUTH_FAILED = 4002
CLOSE_OVERLOADED = 4003
CLOSE_IDLE = 4004
CLOSE_LOGIN_LIMITED = 4029  # too many failed logins from the address (like HTTP 429)
CLOSE_TOO_MANY_BAD = 1008
CLOSE_TOO_BIG = 1009
# Sent by the WebSocket layer itself for a text frame that is not valid UTF-8 (RFC 6455).
CLOSE_BAD_TEXT = 1007
CLOSE_CODES: dict[int, str] = {
    CLOSE_REPLACED: "replaced by a newer login of the same device",
    CLOSE_AUTH_FAILED: "authentication failed",
    CLOSE_OVERLOADED: "the node sheds load (a client that does not read, or overload)",
    CLOSE_IDLE: "no frame for three heartbeat intervals",
    CLOSE_LOGIN_LIMITED: "too many failed logins from this address; retry after the window",
    CLOSE_BAD_TEXT: "a text frame that is not valid UTF-8",
    CLOSE_TOO_MANY_BAD: "too many bad frames",
    CLOSE_TOO_BIG: "a frame over the size limit",
}

# Error codes of the ``error`` frame.
BAD_FRAME = "bad_frame"
UNKNOWN_TYPE = "unknown_type"
UNAUTHENTICATED = "unauthenticated"
FORBIDDEN = "forbidden"
RATE_LIMITED = "rate_limited"
OVERLOADED = "overloaded"
INTERNAL = "internal"
ERROR_CODES = (BAD_FRAME, UNKNOWN_TYPE, UNAUTHENTICATED, FORBIDDEN, RATE_LIMITED, OVERLOADED,
               INTERNAL)

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
# request type -> the type of its reply (``ack`` has none).
REPLY_TYPES: dict[str, str] = {
    "login": "login_ok", "send": "send_ack", "sync": "sync_batch", "read": "read_ok",
    "reads": "reads_ok", "ping": "pong", "op": "op_ok", "state": "state_ok",
}
# Frames the server sends without a request; ``error`` may also answer any request.
PUSH_TYPES = ("msg", "read_sync", "receipt", "error")

# Op kinds and their args: kind -> {arg: (allowed python types, required)}. A ``str`` arg
# named ``user`` must be a user name, ``conv`` a conversation; ``members`` a list of names.
OP_ARGS: dict[str, dict[str, tuple[tuple[type, ...], bool]]] = {
    "group_create": {"conv": (_STR, True), "members": (_LIST, True)},
    "group_add": {"conv": (_STR, True), "user": (_STR, True)},
    "group_remove": {"conv": (_STR, True), "user": (_STR, True)},
    "group_role": {"conv": (_STR, True), "user": (_STR, True), "role": (_STR, True)},
    "contact_add": {"user": (_STR, True)},
    "contact_remove": {"user": (_STR, True)},
    "pin": {"conv": (_STR, True), "pinned": (_BOOL, True)},
}
# The ops that change a group's members (the checker rebuilds the members from them).
GROUP_OPS = frozenset({"group_create", "group_add", "group_remove"})
# The ops the server sequences in a group as an ``event`` message: those and a role change.
GROUP_EVENT_OPS = GROUP_OPS | {"group_role"}
# The roles ``group_role`` gives (the owner is the creator's, never given).
GROUP_ROLES = ("admin", "member")
MAX_GROUP_MEMBERS = 1000


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
    return decode_text_payload(data)


def decode_text_payload(payload: str | bytes) -> dict[str, Any]:
    """``decode_frame(payload.decode())`` for a text frame's payload as it came off the
    wire (UTF-8), without the copy to ``str``: invalid UTF-8 is a FrameError too."""
    try:
        frame = orjson.loads(payload)
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


def validate_op(frame: dict[str, Any]) -> None:
    """Check an ``op`` request's kind and args (after ``validate_request``); raise
    FrameError(bad_frame) naming the wrong field, e.g. ``args.user``."""
    rid = _rid_of(frame)
    kind = frame["kind"]
    spec = OP_ARGS.get(kind)
    if spec is None:
        raise FrameError(BAD_FRAME, f"op: field 'kind' must be one of {', '.join(OP_ARGS)}; "
                         f"got {kind!r}", rid)
    args = frame["args"]
    for name, (types, required) in spec.items():
        where = f"op {kind}: field 'args.{name}'"
        if name not in args:
            if required:
                raise FrameError(BAD_FRAME, f"{where} is missing", rid)
            continue
        value = args[name]
        if not isinstance(value, types) or (types is not _BOOL and isinstance(value, bool)):
            raise FrameError(BAD_FRAME, f"{where} must be {types[0].__name__}", rid)
        if name == "user" and not is_valid_name(value):
            raise FrameError(BAD_FRAME, f"{where} must be a user name [A-Za-z0-9_.-]{{1,64}}",
                             rid)
        if name == "conv":
            group_only = kind in GROUP_EVENT_OPS
            if not is_valid_conv(value) or (group_only and not value.startswith("g:")):
                want = "a group (g:<name>)" if group_only else "a conversation"
                raise FrameError(BAD_FRAME, f"{where} must be {want}", rid)
        if name == "role" and value not in GROUP_ROLES:
            raise FrameError(BAD_FRAME, f"{where} must be one of {', '.join(GROUP_ROLES)}",
                             rid)
        if name == "members":
            if len(value) > MAX_GROUP_MEMBERS or not all(is_valid_name(m) for m in value):
                raise FrameError(BAD_FRAME, f"{where} must be a list of at most "
                                 f"{MAX_GROUP_MEMBERS} user names", rid)
