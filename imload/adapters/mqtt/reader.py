"""The server's byte stream to MQTT packets: ``Reader``, sans-I/O (``codec.py`` says more).

``Reader(level, max_size=...)`` is given the bytes as they arrive, in chunks of any
size (``feed``), and returns the packets they complete, in order; it holds the start
of an incomplete packet until enough bytes have come to finish it (a large packet fed
byte by byte is joined once, not once per byte). The fixed header is checked as soon
as its first byte is there (a packet type a client never receives) and its remaining
length as soon as that is complete (over 4 bytes, over ``max_size``), before the
body is waited for. Anything unreadable raises ``MalformedPacket`` (a fatal
``ProtocolViolation`` naming what is wrong, with ``before``: the packets read whole
before it in the same ``feed``), after which the Reader refuses more bytes.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

from imload.adapters.base import ProtocolViolation
from imload.adapters.mqtt.packets import (
    EMPTY,
    LEVEL_5,
    ConnAck,
    Disconnect,
    Packet,
    PingResp,
    Prop,
    PubAck,
    Publish,
    SubAck,
    Type,
    UnsubAck,
    check_level,
)
from imload.adapters.mqtt.wire import fail, read_properties, read_u16, read_utf8

DEFAULT_MAX_SIZE = 1 << 20  # the largest remaining length a Reader accepts: 1 MiB


class MalformedPacket(ProtocolViolation):
    """Server bytes the ``Reader`` cannot read (always fatal); ``before``: the packets
    read whole from the same ``feed`` before them, in order."""

    def __init__(self, message: str, before: list[Packet]) -> None:
        super().__init__(message, fatal=True)
        self.before = before


V311_SUBACK = frozenset((0, 1, 2, 0x80))
Decoder = Callable[[int, bytes, int, int], Packet]

NEVER = {
    0: "reserved packet type 0",
    Type.CONNECT: "CONNECT, which a server never sends",
    Type.SUBSCRIBE: "SUBSCRIBE, which a server never sends",
    Type.UNSUBSCRIBE: "UNSUBSCRIBE, which a server never sends",
    Type.PINGREQ: "PINGREQ, which a server never sends",
    Type.PUBREC: "PUBREC, of a QoS 2 flow this client never starts",
    Type.PUBREL: "PUBREL, of a QoS 2 flow this client never starts",
    Type.PUBCOMP: "PUBCOMP, of a QoS 2 flow this client never starts",
    Type.AUTH: "AUTH, while this client never asks for enhanced authentication",
}


def _no_payload(stop: int, end: int, what: str) -> None:
    if stop != end:
        raise fail(f"{what}: {end - stop} bytes after its properties, where it has none")


class Reader:
    """The server's byte stream to packets, for protocol ``level`` 4 or 5; see the
    module docstring. ``max_size``: the largest remaining length accepted."""

    def __init__(self, level: int, *, max_size: int = DEFAULT_MAX_SIZE) -> None:
        self.level = check_level(level)
        self.max_size = max_size
        self.v5 = level == LEVEL_5
        self._chunks: list[bytes] = []  # the start of an incomplete packet
        self._have = 0  # bytes in _chunks
        self._need = 0  # bytes _chunks must reach before it is worth reading again
        self._broken = ""  # the violation that ended the stream
        self._decoders: dict[int, Decoder] = {
            Type.CONNACK: self._connack, Type.PUBLISH: self._publish,
            Type.PUBACK: self._puback, Type.SUBACK: self._suback,
            Type.UNSUBACK: self._unsuback, Type.PINGRESP: self._pingresp}
        if self.v5:
            self._decoders[Type.DISCONNECT] = self._disconnect

    @property
    def pending(self) -> int:
        """Bytes held of a packet not complete yet."""
        return self._have

    def feed(self, data: bytes | bytearray | memoryview) -> list[Packet]:
        """The packets ``data`` completes, in order; MalformedPacket if unreadable."""
        if self._broken:
            raise MalformedPacket(f"the stream is unreadable since: {self._broken}", [])
        if not data:
            return []
        if self._chunks:
            chunk = bytes(data)
            self._chunks.append(chunk)
            self._have += len(chunk)
            if self._have < self._need:
                return []
            buf = b"".join(self._chunks)
        else:
            buf = bytes(data)
        out: list[Packet] = []
        try:
            pos = self._split(buf, out)
        except ProtocolViolation as e:
            self._broken = str(e)
            raise MalformedPacket(str(e), out) from None
        except (IndexError, ValueError, struct.error) as e:  # a check this codec lacks
            self._broken = f"unreadable packet ({e!r})"
            raise MalformedPacket(self._broken, out) from e
        rest = len(buf) - pos
        if rest:
            self._chunks = [buf[pos:]]
        elif self._chunks:
            self._chunks = []
        self._have = rest
        return out

    def _split(self, buf: bytes, out: list[Packet]) -> int:
        """Read every whole packet of ``buf`` into ``out``; where the rest starts."""
        pos, n, decoders = 0, len(buf), self._decoders
        while pos < n:
            first = buf[pos]
            kind = first >> 4
            decode = decoders.get(kind)
            if decode is None:
                raise fail(f"packet type {kind}: " + (NEVER.get(kind) or
                                                       f"{Type(kind).name}, which a 3.1.1 "
                                                       "server never sends"))
            if first & 0x0F and kind != 3:  # only PUBLISH (3) has flags; the rest are 0
                raise fail(f"{Type(kind).name}: reserved flags {first & 0x0F:#x} set")
            length = shift = 0
            i = pos + 1
            while True:
                if i >= n:
                    self._need = n - pos + 1
                    return pos
                b = buf[i]
                i += 1
                length |= (b & 0x7F) << shift
                if not b & 0x80:
                    break
                shift += 7
                if shift == 28:
                    raise fail(f"{Type(kind).name}: remaining length longer than 4 bytes")
            if length > self.max_size:
                raise fail(f"{Type(kind).name}: remaining length {length} is over the "
                           f"maximum of {self.max_size}")
            end = i + length
            if end > n:
                self._need = end - pos
                return pos
            out.append(decode(first, buf, i, end))
            pos = end
        return pos

    # ------------------------------------------------------------ by type
    def _connack(self, first: int, data: bytes, pos: int, end: int) -> Packet:
        if end - pos < 2 or (end - pos != 2 and not self.v5):
            raise fail(f"CONNACK: variable header of {end - pos} bytes, not 2"
                       + (" or more" if self.v5 else ""))
        ack, code = data[pos], data[pos + 1]
        if ack & 0xFE:
            raise fail(f"CONNACK: reserved acknowledge flags {ack:#x} set")
        if end - pos == 2:  # 3.1.1, or an MQTT 5 server's refusal in 3.1.1's form
            return ConnAck(bool(ack), code)
        props, users, stop = read_properties(data, pos + 2, end, "CONNACK")
        _no_payload(stop, end, "CONNACK")
        return ConnAck(bool(ack), code, props, users)

    def _publish(self, first: int, data: bytes, pos: int, end: int) -> Packet:
        qos = (first >> 1) & 3
        if qos:
            if qos > 1:
                raise fail("PUBLISH with QoS 3, which does not exist" if qos == 3 else
                           "PUBLISH at QoS 2, which this client never subscribes to")
        elif first & 0x08:
            raise fail("PUBLISH at QoS 0 with the DUP flag set")
        topic, pos = read_utf8(data, pos, end, "PUBLISH topic name")
        if not topic or "+" in topic or "#" in topic:
            raise fail(f"PUBLISH topic name {topic!r}: empty or with a wildcard")
        packet_id = None
        if qos:
            if end - pos < 2:
                raise fail(f"PUBLISH packet id: truncated ({end - pos} bytes left)")
            packet_id = (data[pos] << 8) | data[pos + 1]
            pos += 2
            if not packet_id:
                raise fail("PUBLISH packet id 0")
        if not self.v5:
            return Publish(topic, data[pos:end], qos, packet_id, bool(first & 0x08),
                           bool(first & 0x01))
        if pos < end and data[pos] == 0:  # no properties: the usual case
            props, users, pos = EMPTY, (), pos + 1
        else:
            props, users, pos = read_properties(data, pos, end, "PUBLISH")
            if Prop.TOPIC_ALIAS in props:
                raise fail("PUBLISH with a topic alias, which this client never allows")
        return Publish(topic, data[pos:end], qos, packet_id, bool(first & 0x08),
                       bool(first & 0x01), users, props)

    def _puback(self, first: int, data: bytes, pos: int, end: int) -> Packet:
        if end - pos == 2:  # the usual PUBACK
            return PubAck((data[pos] << 8) | data[pos + 1])
        packet_id, at = read_u16(data, pos, end, "PUBACK packet id")
        if not self.v5:
            raise fail(f"PUBACK: variable header of {end - pos} bytes, not 2")
        if end - pos == 3:
            return PubAck(packet_id, data[at])
        props, users, stop = read_properties(data, at + 1, end, "PUBACK")
        _no_payload(stop, end, "PUBACK")
        return PubAck(packet_id, data[at], props, users)

    def _suback(self, first: int, data: bytes, pos: int, end: int) -> Packet:
        packet_id, pos = read_u16(data, pos, end, "SUBACK packet id")
        props, users = EMPTY, ()
        if self.v5:
            props, users, pos = read_properties(data, pos, end, "SUBACK")
        if pos >= end:
            raise fail("SUBACK without a return code")
        codes = tuple(data[pos:end])
        if not self.v5 and not V311_SUBACK.issuperset(codes):
            raise fail(f"SUBACK return codes {codes}: 3.1.1 has only 0, 1, 2 and 0x80")
        return SubAck(packet_id, codes, props, users)

    def _unsuback(self, first: int, data: bytes, pos: int, end: int) -> Packet:
        packet_id, at = read_u16(data, pos, end, "UNSUBACK packet id")
        if not self.v5:
            if end - pos != 2:
                raise fail(f"UNSUBACK: variable header of {end - pos} bytes, not 2")
            return UnsubAck(packet_id)
        props, users, at = read_properties(data, at, end, "UNSUBACK")
        if at >= end:
            raise fail("UNSUBACK without a reason code")
        return UnsubAck(packet_id, tuple(data[at:end]), props, users)

    def _pingresp(self, first: int, data: bytes, pos: int, end: int) -> Packet:
        if end != pos:
            raise fail(f"PINGRESP with a remaining length of {end - pos}, not 0")
        return PingResp()

    def _disconnect(self, first: int, data: bytes, pos: int, end: int) -> Packet:
        if end == pos:
            return Disconnect()
        if end - pos == 1:
            return Disconnect(data[pos])
        props, users, stop = read_properties(data, pos + 1, end, "DISCONNECT")
        _no_payload(stop, end, "DISCONNECT")
        return Disconnect(data[pos], props, users)
