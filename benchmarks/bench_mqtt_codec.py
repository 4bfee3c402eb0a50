"""What one MQTT message costs the packet codec (imload/adapters/mqtt/codec.py), on one core.

    .venv/bin/python benchmarks/bench_mqtt_codec.py [--quick] [--number N] [--repeat R]
                                                    [--chunk C]

The message: a QoS-1 MQTT 5 PUBLISH of a 100-byte JSON payload with one User Property
(the client message id), as the MQTT adapter will send it, and the PUBACK that
answers it. Encoding is ``build_publish``; decoding is a long-lived ``Reader`` fed the
PUBLISH and the PUBACK as one byte stream cut in ``C``-byte chunks (37: both packets
are split across chunks), so the figure includes the buffering of partial packets.
Each figure is the best of ``R`` runs of ``N`` messages (5 x 50,000; quick 3 x 5,000)
in microseconds per message, one JSON object per line like the other benchmarks:

- ``mqtt_encode_publish_us``, with ``baseline`` = the floor of any encoder (joining a
  ready header to the payload: the one copy it cannot avoid) and ``ratio``;
- ``mqtt_decode_publish_puback_us``, with ``baseline`` = joining the chunks and
  slicing the payload out, and ``ratio``;
- when paho-mqtt is installed (not a dependency: ``pip install paho-mqtt`` to see it),
  ``paho_route_encode_us`` and ``paho_route_decode_us``: the library route the
  codec's docstring weighs, paho's ``Properties`` for the User Property and its
  ``_packet`` decoders under the same framing, with ``ratio`` = paho / this codec;
- when mqtt5 is installed, ``mqtt5_encode_us`` and ``mqtt5_decode_us`` likewise (a
  Rust codec for MQTT 5 only: the speed a compiled codec reaches).

The codec's own figures go in its docstring; the ratios are what to compare between
machines, not the microseconds.
"""

from __future__ import annotations

import argparse
import sys
import timeit
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from bench_generator import emit  # noqa: E402 - the same JSON lines

from imload.adapters.base import ProtocolViolation  # noqa: E402
from imload.adapters.mqtt.codec import Reader, build_puback, build_publish  # noqa: E402
from imload.adapters.mqtt.packets import PubAck, Publish  # noqa: E402
from imload.adapters.mqtt.wire import read_vbi  # noqa: E402

TOPIC = "imload/u/bob"
PAYLOAD = (b'{"cmid":"c-000123","conv":"d:alice:bob","body":"hello there, how are you '
           b'doing?","ts":1733000000000}')
PROPS = [("cmid", "c-000123")]
PACKET_ID = 7


def encode() -> bytes:
    return build_publish(TOPIC, PAYLOAD, level=5, qos=1, packet_id=PACKET_ID,
                         user_properties=PROPS)


STREAM = encode() + build_puback(PACKET_ID, level=5)


def chunks_of(data: bytes, size: int) -> list[bytes]:
    return [data[i:i + size] for i in range(0, len(data), size)]


def best_us(fn: Callable[[], Any], number: int, repeat: int) -> float:
    """The best of ``repeat`` runs of ``number`` calls, in microseconds per call."""
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number * 1e6


# ------------------------------------------------------------------ the routes

def codec_decoder(chunks: list[bytes]) -> Callable[[], list[Any]]:
    reader = Reader(5)
    feed = reader.feed

    def decode() -> list[Any]:
        out: list[Any] = []
        for c in chunks:
            out += feed(c)
        return out
    return decode


def floor_routes(chunks: list[bytes]) -> tuple[Callable[[], bytes], Callable[[], bytes]]:
    head = STREAM[:len(STREAM) - 4 - len(PAYLOAD)]
    at = len(head)

    def encode_floor() -> bytes:
        return b"".join((head, PAYLOAD))

    def decode_floor() -> bytes:
        return b"".join(chunks)[at:at + len(PAYLOAD)]
    return encode_floor, decode_floor


def frames(buf: bytearray) -> list[tuple[int, bytes]]:
    """The whole packets at the start of ``buf`` as (first byte, body), removed from it:
    the framing this codec's Reader does, for the library routes."""
    out = []
    while len(buf) >= 2:
        try:
            length, i = read_vbi(buf, 1, len(buf), "remaining length")
        except ProtocolViolation:  # not all of the remaining length here yet
            return out
        if i + length > len(buf):
            return out
        out.append((buf[0], bytes(buf[i:i + length])))
        del buf[:i + length]
    return out


def paho_routes(chunks: list[bytes]) -> tuple[Callable[[], Any], Callable[[], Any]] | None:
    try:
        from paho.mqtt import _packet
        from paho.mqtt.enums import MQTTProtocolVersion
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties
    except ImportError:
        return None
    from imload.adapters.mqtt.wire import u16, utf8, vbi
    v5 = MQTTProtocolVersion.MQTTv5

    def encode_paho() -> bytes:
        props = Properties(PacketTypes.PUBLISH)
        props.UserProperty = PROPS
        body = utf8(TOPIC, "topic") + u16(PACKET_ID) + props.pack() + PAYLOAD
        return b"\x32" + vbi(len(body)) + body

    buf = bytearray()

    def decode_paho() -> list[Any]:
        out: list[Any] = []
        for c in chunks:
            buf.extend(c)
            for first, body in frames(buf):
                if first >> 4 == 3:
                    p = _packet.decode_publish(first, body, v5)
                    users = getattr(p.properties, "UserProperty", [])
                    out.append(Publish(p.topic.decode(), p.payload, p.qos, p.mid, p.dup,
                                       p.retain, tuple(users)))
                else:
                    a = _packet.decode_puback(first, body, v5)
                    out.append(PubAck(a.mid, a.reason.value))
        return out
    return encode_paho, decode_paho


def mqtt5_routes(chunks: list[bytes]) -> tuple[Callable[[], Any], Callable[[], Any]] | None:
    try:
        import mqtt5
    except ImportError:
        return None
    qos1 = mqtt5.QoS.AT_LEAST_ONCE

    def encode_mqtt5() -> bytes:
        return mqtt5.PublishPacket(TOPIC, PAYLOAD, qos=qos1, packet_id=PACKET_ID,
                                   user_properties=PROPS).write()

    buf = bytearray()

    def decode_mqtt5() -> list[Any]:
        out: list[Any] = []
        for c in chunks:
            buf.extend(c)
            while buf:
                try:
                    packet, n = mqtt5.read(memoryview(buf))
                except IndexError:  # not enough bytes yet
                    break
                out.append(packet)
                del buf[:n]
        return out
    return encode_mqtt5, decode_mqtt5


# ------------------------------------------------------------------ measuring

def measure(number: int, repeat: int, chunk: int) -> dict[str, float]:
    """Microseconds per message of each route there is here (see the module docstring)."""
    chunks = chunks_of(STREAM, chunk)
    decode = codec_decoder(chunks)
    expected = [Publish(TOPIC, PAYLOAD, 1, PACKET_ID, False, False, tuple(PROPS)),
                PubAck(PACKET_ID)]
    if decode() != expected:
        raise AssertionError(f"the codec read {decode()!r}")
    encode_floor, decode_floor = floor_routes(chunks)
    figures = {"codec_encode": best_us(encode, number, repeat),
               "floor_encode": best_us(encode_floor, number, repeat),
               "codec_decode": best_us(decode, number, repeat),
               "floor_decode": best_us(decode_floor, number, repeat)}
    for name, routes in (("paho", paho_routes(chunks)), ("mqtt5", mqtt5_routes(chunks))):
        if routes is None:
            continue
        enc, dec = routes
        if enc() != STREAM[:-4] or len(dec()) != 2:
            raise AssertionError(f"the {name} route does not make the same packets")
        figures[f"{name}_encode"] = best_us(enc, number, repeat)
        figures[f"{name}_decode"] = best_us(dec, number, repeat)
    return figures


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="3 runs of 5,000 messages")
    p.add_argument("--number", type=int, default=None, help="messages per run (50,000)")
    p.add_argument("--repeat", type=int, default=None, help="runs, the best counts (5)")
    p.add_argument("--chunk", type=int, default=37, help="bytes per chunk read (37)")
    ns = p.parse_args(argv)
    number = ns.number or (5_000 if ns.quick else 50_000)
    repeat = ns.repeat or (3 if ns.quick else 5)
    if number < 1 or repeat < 1 or ns.chunk < 1:
        p.error("--number, --repeat and --chunk must be >= 1")
    f = measure(number, repeat, ns.chunk)
    context = {"payload_bytes": len(PAYLOAD), "publish_bytes": len(STREAM) - 4,
               "chunk": ns.chunk, "number": number, "repeat": repeat}
    emit("mqtt_encode_publish_us", f["codec_encode"], "us/message",
         baseline=f["floor_encode"], ratio=f["codec_encode"] / f["floor_encode"], **context)
    emit("mqtt_decode_publish_puback_us", f["codec_decode"], "us/message",
         baseline=f["floor_decode"], ratio=f["codec_decode"] / f["floor_decode"], **context)
    for name in ("paho", "mqtt5"):
        if f"{name}_encode" in f:
            label = "paho_route" if name == "paho" else name
            emit(f"{label}_encode_us", f[f"{name}_encode"], "us/message",
                 ratio=f[f"{name}_encode"] / f["codec_encode"], against="this codec")
            emit(f"{label}_decode_us", f[f"{name}_decode"], "us/message",
                 ratio=f[f"{name}_decode"] / f["codec_decode"], against="this codec")
    return 0


if __name__ == "__main__":
    sys.exit(main())
