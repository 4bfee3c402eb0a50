"""The reference wire protocol v1: frames, names and tokens. No I/O.

Shared by the client engine and the reference server; see docs/protocol.md.
"""

from imload.protocol.frames import (
    CLOSE_AUTH_FAILED,
    CLOSE_BAD_TEXT,
    CLOSE_CODES,
    CLOSE_IDLE,
    CLOSE_LOGIN_LIMITED,
    CLOSE_OVERLOADED,
    CLOSE_REPLACED,
    CLOSE_TOO_BIG,
    CLOSE_TOO_MANY_BAD,
    ERROR_CODES,
    MAX_FRAME_BYTES,
    OP_ARGS,
    PUSH_TYPES,
    REPLY_TYPES,
    REQUEST_FIELDS,
    FrameError,
    decode_frame,
    decode_text_payload,
    encode_frame,
    validate_op,
    validate_request,
)
from imload.protocol.names import (
    NameError_,
    conv_members,
    direct_conv,
    is_valid_conv,
    is_valid_name,
)
from imload.protocol.tokens import TokenError, mint_token, verify_token

__all__ = [
    "CLOSE_AUTH_FAILED",
    "CLOSE_BAD_TEXT",
    "CLOSE_CODES",
    "CLOSE_IDLE",
    "CLOSE_LOGIN_LIMITED",
    "CLOSE_OVERLOADED",
    "CLOSE_REPLACED",
    "CLOSE_TOO_BIG",
    "CLOSE_TOO_MANY_BAD",
    "ERROR_CODES",
    "MAX_FRAME_BYTES",
    "OP_ARGS",
    "PUSH_TYPES",
    "REPLY_TYPES",
    "REQUEST_FIELDS",
    "FrameError",
    "NameError_",
    "TokenError",
    "conv_members",
    "decode_frame",
    "decode_text_payload",
    "direct_conv",
    "encode_frame",
    "is_valid_conv",
    "is_valid_name",
    "mint_token",
    "validate_op",
    "validate_request",
    "verify_token",
]
