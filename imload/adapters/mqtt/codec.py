"""A sans-I/O MQTT 3.1.1 / MQTT 5 packet codec for a client: bytes to write, packets read.

``build_connect``, ``build_subscribe``, ``build_unsubscribe``, ``build_publish``,
``build_puback``, ``build_pingreq`` and ``build_disconnect`` return the bytes of one
packet; ``Reader(level).feed(chunk)`` takes the server's bytes in chunks of any size
and returns the packets they complete (``packets.py``). No socket, no clock. The
protocol level, 4 (3.1.1) or 5, is fixed per ``Reader`` and given to every builder
whose bytes differ between the two. The client this serves publishes and subscribes
at QoS 0 or 1 and never asks for enhanced authentication or topic aliases, so a QoS 2
PUBLISH, PUBREC/PUBREL/PUBCOMP, AUTH or a topic alias from the server is a violation.

Anything the server sends that cannot be read raises ``MalformedPacket``, a fatal
``ProtocolViolation`` naming what is wrong (a remaining length over 4 bytes or over
``max_size``, a packet type a client never receives, reserved flags, a variable
header cut short inside a complete packet, a string that is not UTF-8, ...), with the
packets read whole before it in ``before``; the ``Reader`` then refuses more bytes.
The builders raise ValueError for what MQTT cannot carry (the caller's bug).

Why hand-written, not a library
-------------------------------
The project prefers a well-kept library; none fits, and the one route through a
library that covers both levels is measured too slow. Candidates, installed and read:

- paho-mqtt 2.2.0, the field's standard client, writes packets only inside
  ``Client`` (its ``_send_*`` methods need a connected socket and queue what they
  build) and reads them in a private module (``paho.mqtt._packet``); its public
  ``properties.Properties`` builds a table of names per instance. Usable route:
  ``Properties`` for the User Property, ``_packet.decode_*`` under our own framing.
- mqtt5 0.8.0 (Rust, sans-I/O) is fast but MQTT 5 only (it cannot read a 3.1.1
  CONNACK or SUBACK), reads a CONNECT or SUBSCRIBE as readily as a SUBACK, and a
  PUBLISH whose topic is not UTF-8 makes it panic (``pyo3_runtime.PanicException``,
  a BaseException that no ``except Exception`` stops).
- moat-lib-mqtt 0.8.7: sans-I/O but MQTT 5 only, and brings anyio, httpx and attrs.
- amqtt 0.12.1: 3.1.1 only, reads from asyncio streams, pins websockets==15.0.1.
- gmqtt 0.8.0: its builders draw packet ids from its client's generator and its
  parsing lives in its asyncio handler.
- mqtt-codec 1.0.2 (2019): no longer installs (``use_2to3``).

Per message (``benchmarks/bench_mqtt_codec.py``, best of 5 runs of 50,000, CPython
3.11 on this project's 2-core machine): encode a QoS-1 MQTT 5 PUBLISH of a 100-byte
JSON payload with one User Property (137 bytes on the wire); decode it and its
PUBACK from the stream cut in 37-byte chunks:

========================  ==========  ================  ===================
per message               this codec  paho-mqtt route   mqtt5 (MQTT 5 only)
========================  ==========  ================  ===================
encode PUBLISH            2.0 us      23.6 us (x11.7)   0.6 us
decode PUBLISH + PUBACK   4.5 us      43.6 us (x9.8)    2.4 us
========================  ==========  ================  ===================

Of paho's 43.6 us, its decoders take 38 (``decode_publish`` 26.5, ``decode_puback``
11.6: each makes ``Properties`` and ``ReasonCode`` objects), the framing 1.9. A
complete message costs the generator 120-130 us of CPU today (docs/traffic.md); with
a PUBLISH and a PUBACK each written and read per message, paho's route would add
about 55 % to it, this codec about 5 %.
"""

from __future__ import annotations

from collections.abc import Sequence

from imload.adapters.mqtt.packets import LEVEL_5, LEVELS, Packet, Prop, check_level
from imload.adapters.mqtt.reader import DEFAULT_MAX_SIZE, MalformedPacket, Reader
from imload.adapters.mqtt.wire import (
    MAX_VBI,
    binary,
    pack_user_properties,
    property_block,
    u16,
    u32,
    utf8,
    vbi,
)

PINGREQ = b"\xc0\x00"

__all__ = ["DEFAULT_MAX_SIZE", "PINGREQ", "MalformedPacket", "Packet", "Reader",
           "build_connect", "build_disconnect", "build_puback", "build_pingreq",
           "build_publish", "build_subscribe", "build_unsubscribe"]

# ------------------------------------------------------------------ building

def _packet_id(packet_id: int | None) -> bytes:
    if packet_id is None or not 0 < packet_id <= 0xFFFF:
        raise ValueError(f"packet id {packet_id!r}: 1..65535")
    return u16(packet_id)


def _frame(first: int, body: bytes) -> bytes:
    n = len(body)
    if n < 128:
        return bytes((first, n)) + body
    if n > MAX_VBI:
        raise ValueError(f"a packet of {n} bytes is over MQTT's limit ({MAX_VBI})")
    return bytes((first,)) + vbi(n) + body


def build_connect(client_id: str, *, level: int, keepalive: int = 60, clean: bool = True,
                  username: str | None = None, password: bytes | str | None = None,
                  session_expiry: int | None = None) -> bytes:
    """CONNECT. ``clean``: 3.1.1's Clean Session or MQTT 5's Clean Start;
    ``session_expiry`` (s): MQTT 5's Session Expiry Interval property (absent: 0, the
    session ends with the connection; 0xFFFFFFFF: never)."""
    check_level(level)
    if not 0 <= keepalive <= 0xFFFF:
        raise ValueError(f"keepalive {keepalive}: 0..65535 s")
    flags = 0x02 if clean else 0
    if username is not None:
        flags |= 0x80
    if password is not None:
        if username is None and level != LEVEL_5:
            raise ValueError("MQTT 3.1.1 sends no password without a username")
        flags |= 0x40
    head = b"\x00\x04MQTT" + bytes((level, flags)) + u16(keepalive)
    if level == LEVEL_5:
        props = b""
        if session_expiry is not None:
            if not 0 <= session_expiry <= 0xFFFFFFFF:
                raise ValueError(f"session expiry {session_expiry}: 0..4294967295 s")
            props = bytes((Prop.SESSION_EXPIRY_INTERVAL,)) + u32(session_expiry)
        head += property_block(props)
    else:
        if session_expiry is not None:
            raise ValueError("session_expiry is an MQTT 5 property (level 5)")
        if not client_id and not clean:
            raise ValueError("MQTT 3.1.1: an empty client id needs clean=True")
    body = head + utf8(client_id, "the client id")
    if username is not None:
        body += utf8(username, "the username")
    if password is not None:
        secret = password.encode() if isinstance(password, str) else bytes(password)
        body += binary(secret, "the password")
    return _frame(0x10, body)


def _qos(qos: int) -> int:
    if qos not in (0, 1):
        raise ValueError(f"qos {qos!r}: this codec speaks QoS 0 and 1")
    return qos


def build_subscribe(packet_id: int, topics: Sequence[tuple[str, int]], *, level: int) -> bytes:
    """SUBSCRIBE to each (topic filter, maximum QoS 0 or 1)."""
    if not topics:
        raise ValueError("a SUBSCRIBE needs at least one topic filter")
    body = _packet_id(packet_id) + (b"\x00" if check_level(level) == LEVEL_5 else b"")
    for pattern, qos in topics:
        if not pattern:
            raise ValueError("an empty topic filter")
        body += utf8(pattern, "a topic filter") + bytes((_qos(qos),))
    return _frame(0x82, body)


def build_unsubscribe(packet_id: int, topics: Sequence[str], *, level: int) -> bytes:
    """UNSUBSCRIBE from each topic filter."""
    if not topics or not all(topics):
        raise ValueError("an UNSUBSCRIBE needs topic filters, none empty")
    body = _packet_id(packet_id) + (b"\x00" if check_level(level) == LEVEL_5 else b"")
    body += b"".join(utf8(pattern, "a topic filter") for pattern in topics)
    return _frame(0xA2, body)


def build_publish(topic: str, payload: bytes, *, level: int, qos: int = 0,
                  packet_id: int | None = None, retain: bool = False, dup: bool = False,
                  user_properties: Sequence[tuple[str, str]] = ()) -> bytes:
    """PUBLISH ``payload`` to ``topic``; ``packet_id`` at QoS 1 only, and ``dup`` for a
    QoS 1 resend; ``user_properties``: MQTT 5 User Properties, in order."""
    if not topic or "+" in topic or "#" in topic:
        raise ValueError(f"topic name {topic!r}: not empty, no wildcards")
    first = 0x30 | (_qos(qos) << 1) | (0x08 if dup else 0) | (0x01 if retain else 0)
    body = utf8(topic, "the topic name")
    if qos:
        body += _packet_id(packet_id)
    elif packet_id is not None or dup:
        raise ValueError("a QoS 0 PUBLISH has no packet id and no DUP flag")
    if check_level(level) == LEVEL_5:
        body += property_block(pack_user_properties(user_properties) if user_properties
                               else b"")
    elif user_properties:
        raise ValueError("user properties are MQTT 5 (level 5)")
    return _frame(first, body + payload)


def build_puback(packet_id: int, *, level: int, code: int = 0) -> bytes:
    """PUBACK of the QoS 1 PUBLISH ``packet_id``; ``code``: an MQTT 5 reason code."""
    if code == 0 and level in LEVELS:  # MQTT 5 3.4.2.1: a reason code 0 may be left out
        return b"\x40\x02" + _packet_id(packet_id)
    if check_level(level) != LEVEL_5 or not 0 <= code <= 0xFF:
        raise ValueError(f"PUBACK reason code {code!r}: MQTT 5 only, 0..255")
    return b"\x40\x03" + _packet_id(packet_id) + bytes((code,))


def build_pingreq() -> bytes:
    return PINGREQ


def build_disconnect(*, level: int, code: int = 0) -> bytes:
    """DISCONNECT; ``code``: an MQTT 5 reason code (0x04: publish the will)."""
    if code == 0 and level in LEVELS:
        return b"\xe0\x00"
    if check_level(level) != LEVEL_5 or not 0 <= code <= 0xFF:
        raise ValueError(f"DISCONNECT reason code {code!r}: MQTT 5 only, 0..255")
    return bytes((0xE0, 1, code))
