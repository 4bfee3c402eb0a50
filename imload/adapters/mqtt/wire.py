"""MQTT's data representations (MQTT 3.1.1 section 1.5, MQTT 5.0 sections 1.5 and 2.2.2):
integers, variable byte integers, UTF-8 strings, binary data and MQTT 5 properties,
written to bytes and read from a packet with bounds checks.

The readers take ``(data, pos, end)``: the bytes of a stream, where to read and
where the packet ends, and give ``(value, next_pos)``; reading past ``end`` or a
value MQTT forbids raises ``ProtocolViolation`` naming ``what`` was read, never an
IndexError or a UnicodeDecodeError. The writers raise ValueError for values that
cannot be sent (a string over 65,535 bytes, a negative interval): the caller's bug.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Any

from imload.adapters.base import ProtocolViolation
from imload.adapters.mqtt.packets import Prop, Properties, UserProperties

MAX_VBI = 268_435_455  # the largest variable byte integer: four bytes of seven bits

u16 = struct.Struct("!H").pack
u32 = struct.Struct("!I").pack
_U16 = struct.Struct("!H").unpack_from
_U32 = struct.Struct("!I").unpack_from


def fail(message: str) -> ProtocolViolation:
    """The violation to raise for unreadable server bytes: fatal, the stream is lost."""
    return ProtocolViolation(message, fatal=True)


# ------------------------------------------------------------------ writing

def vbi(n: int) -> bytes:
    """``n`` as a variable byte integer (1-4 bytes, seven bits each, low first)."""
    if 0 <= n < 128:
        return bytes((n,))
    if not 0 <= n <= MAX_VBI:
        raise ValueError(f"{n} does not fit a variable byte integer (0..{MAX_VBI})")
    out = bytearray()
    while True:
        n, digit = n >> 7, n & 0x7F
        if not n:
            out.append(digit)
            return bytes(out)
        out.append(digit | 0x80)


def utf8(s: str, what: str) -> bytes:
    """A UTF-8 string: two length bytes, then the bytes; ValueError if it cannot be one."""
    b = s.encode()
    if len(b) > 0xFFFF or "\x00" in s:
        raise ValueError(f"{what} is not an MQTT string (over 65,535 bytes or with U+0000)")
    return u16(len(b)) + b


def binary(b: bytes, what: str) -> bytes:
    if len(b) > 0xFFFF:
        raise ValueError(f"{what} is over 65,535 bytes")
    return u16(len(b)) + b


def pack_user_properties(pairs: Sequence[tuple[str, str]]) -> bytes:
    """User Property (0x26) entries, in order."""
    return b"".join(b"\x26" + utf8(k, "a user property name") + utf8(v, "a user property value")
                    for k, v in pairs)


def property_block(body: bytes) -> bytes:
    """A property block: its length as a variable byte integer, then the properties."""
    return vbi(len(body)) + body


# ------------------------------------------------------------------ reading

def read_vbi(data: bytes, pos: int, end: int, what: str) -> tuple[int, int]:
    value = shift = 0
    for i in range(pos, min(pos + 4, end)):
        b = data[i]
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, i + 1
        shift += 7
    if end - pos >= 4:
        raise fail(f"{what}: a variable byte integer longer than 4 bytes")
    raise fail(f"{what}: truncated (a variable byte integer runs past the end of the packet)")


def read_u16(data: bytes, pos: int, end: int, what: str) -> tuple[int, int]:
    if end - pos < 2:
        raise fail(f"{what}: truncated (2 bytes needed, {max(end - pos, 0)} left)")
    return _U16(data, pos)[0], pos + 2


def read_binary(data: bytes, pos: int, end: int, what: str) -> tuple[bytes, int]:
    if end - pos < 2:
        raise fail(f"{what}: truncated (2 length bytes needed, {max(end - pos, 0)} left)")
    stop = pos + 2 + ((data[pos] << 8) | data[pos + 1])
    if stop > end:
        raise fail(f"{what}: truncated (length {stop - pos - 2}, {end - pos - 2} bytes left "
                   "in the packet)")
    return data[pos + 2:stop], stop


def read_utf8(data: bytes, pos: int, end: int, what: str) -> tuple[str, int]:
    raw, stop = read_binary(data, pos, end, what)
    try:
        s = raw.decode()  # strict: no ill-formed UTF-8, no surrogates
    except UnicodeDecodeError:
        raise fail(f"{what} is not valid UTF-8: {raw[:40]!r}") from None
    if "\x00" in s:
        raise fail(f"{what} contains U+0000, which MQTT strings must not")
    return s, stop


BYTE, TWO, FOUR, VARIABLE, BINARY, STRING, PAIR = range(7)
PROPERTY_TYPES: dict[int, int] = {
    1: BYTE, 2: FOUR, 3: STRING, 8: STRING, 9: BINARY, 11: VARIABLE, 17: FOUR, 18: STRING,
    19: TWO, 21: STRING, 22: BINARY, 23: BYTE, 24: FOUR, 25: BYTE, 26: STRING, 28: STRING,
    31: STRING, 33: TWO, 34: TWO, 35: TWO, 36: BYTE, 37: BYTE, 38: PAIR, 39: FOUR, 40: BYTE,
    41: BYTE, 42: BYTE,
}


def read_properties(data: bytes, pos: int, end: int,
                    what: str) -> tuple[Properties, UserProperties, int]:
    """An MQTT 5 property block of packet ``what``: (properties by id, user
    properties, next position). An unknown id, a property given twice that may appear
    once, or a value running past the block is a violation."""
    if pos < end and data[pos] < 0x80:
        length, pos = data[pos], pos + 1
    else:
        length, pos = read_vbi(data, pos, end, f"{what} property length")
    stop = pos + length
    if stop > end:
        raise fail(f"{what}: property length {length} runs past the end of the packet "
                   f"({end - pos} bytes left)")
    props: dict[int, Any] = {}
    users: list[tuple[str, str]] = []
    while pos < stop:
        ident = data[pos]
        kind = PROPERTY_TYPES.get(ident)
        if kind is None:
            raise fail(f"{what}: unknown property id {ident}")
        pos += 1
        value: Any
        try:  # the messages name the property only when one is raised
            if kind == PAIR:
                key, pos = read_utf8(data, pos, stop, "name")
                val, pos = read_utf8(data, pos, stop, "value")
                users.append((key, val))
                continue
            if kind == STRING:
                value, pos = read_utf8(data, pos, stop, "value")
            elif kind == BYTE:
                if pos >= stop:
                    raise fail("value truncated")
                value, pos = data[pos], pos + 1
            elif kind == TWO:
                value, pos = read_u16(data, pos, stop, "value")
            elif kind == FOUR:
                if stop - pos < 4:
                    raise fail(f"value truncated (4 bytes needed, {stop - pos} left)")
                value, pos = _U32(data, pos)[0], pos + 4
            elif kind == VARIABLE:
                value, pos = read_vbi(data, pos, stop, "value")
            else:
                value, pos = read_binary(data, pos, stop, "value")
        except ProtocolViolation as e:
            raise fail(f"{what} property {Prop(ident).name}: {e}") from None
        if ident == Prop.SUBSCRIPTION_IDENTIFIER:  # one per matching subscription
            props[ident] = props.get(ident, ()) + (value,)
        elif ident in props:
            raise fail(f"{what} property {Prop(ident).name} appears twice")
        else:
            props[ident] = value
    return props, tuple(users), stop
