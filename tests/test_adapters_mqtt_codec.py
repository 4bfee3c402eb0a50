"""The MQTT packet codec (imload/adapters/mqtt/codec.py): packets built to the byte, the
server's byte stream read in chunks of any size, and every malformed stream a fatal
ProtocolViolation naming what is wrong.

The byte strings follow the layouts and examples of MQTT 3.1.1 (OASIS, 2014) and MQTT
5.0 (OASIS, 2019); the CONNECT, SUBSCRIBE, PUBLISH, PUBACK, UNSUBSCRIBE and
DISCONNECT ones were also checked byte for byte against what paho-mqtt 2.2.0's client
writes for the same arguments, and the MQTT 5 ones read back by mqtt5 0.8.0.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imload.adapters.base import ProtocolViolation
from imload.adapters.mqtt.codec import (
    DEFAULT_MAX_SIZE,
    MalformedPacket,
    Reader,
    build_connect,
    build_disconnect,
    build_pingreq,
    build_puback,
    build_publish,
    build_subscribe,
    build_unsubscribe,
)
from imload.adapters.mqtt.packets import (
    ConnAck,
    Disconnect,
    Packet,
    PingResp,
    Prop,
    PubAck,
    Publish,
    SubAck,
    UnsubAck,
)
from imload.adapters.mqtt.wire import read_vbi, vbi

BENCH = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_mqtt_codec.py"


def h(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


def read_all(level: int, data: bytes, size: int) -> list[Packet]:
    reader = Reader(level)
    out: list[Packet] = []
    for i in range(0, len(data), size):
        out += reader.feed(data[i:i + size])
    assert reader.pending == 0
    return out


# ------------------------------------------------------------------ building

def test_remaining_length_encodings_are_the_specs_table() -> None:
    table = {0: "00", 127: "7f", 128: "80 01", 16_383: "ff 7f", 16_384: "80 80 01",
             2_097_151: "ff ff 7f", 2_097_152: "80 80 80 01", 268_435_455: "ff ff ff 7f"}
    for n, text in table.items():  # MQTT 3.1.1 table 2.4
        assert vbi(n) == h(text)
        assert read_vbi(h(text), 0, len(h(text)), "x") == (n, len(h(text)))
    with pytest.raises(ValueError):
        vbi(268_435_456)


def test_connect_311_with_clean_session_false() -> None:
    assert build_connect("c1", level=4, keepalive=60, clean=False) == h(
        "10 0e  00 04 4d 51 54 54  04  00  00 3c  00 02 63 31")
    assert build_connect("c1", level=4, keepalive=60, clean=False, username="user",
                         password=b"pw") == h(
        "10 18  00 04 4d 51 54 54  04  c0  00 3c  00 02 63 31  00 04 75 73 65 72  00 02 70 77")
    # section 3.1.2.10's example variable header, less its will (flags 0xCE)
    got = build_connect("c1", level=4, keepalive=10, username="u", password="p")
    assert got[2:12] == h("00 04 4d 51 54 54 04 c2 00 0a")


def test_connect_5_with_session_expiry() -> None:
    assert build_connect("c1", level=5, keepalive=60, clean=False,
                         session_expiry=3600) == h(
        "10 14  00 04 4d 51 54 54  05  00  00 3c  05 11 00 00 0e 10  00 02 63 31")
    # section 3.1.2.11's example (session expiry 10), without its Receive Maximum
    got = build_connect("c1", level=5, keepalive=10, username="u", password=b"p",
                        session_expiry=10)
    assert got[2:18] == h("00 04 4d 51 54 54 05 c2 00 0a 05 11 00 00 00 0a")
    # no property: an empty property block, and an MQTT 5 password needs no username
    assert build_connect("", level=5, password=b"p")[2:14] == h(
        "00 04 4d 51 54 54 05 42 00 3c 00 00")


def test_publish_qos1_with_a_user_property() -> None:
    v5 = h("32 11  00 03 61 2f 62  00 0a  07 26 00 01 6b 00 01 76  68 69")
    assert build_publish("a/b", b"hi", level=5, qos=1, packet_id=10,
                         user_properties=[("k", "v")]) == v5
    assert Reader(5).feed(v5) == [Publish("a/b", b"hi", 1, 10, False, False, (("k", "v"),))]
    # 3.1.1 section 3.3.2.3's example variable header; retain and DUP in the flags
    v4 = build_publish("a/b", b"hi", level=4, qos=1, packet_id=10, retain=True, dup=True)
    assert v4 == h("3b 09  00 03 61 2f 62  00 0a  68 69")
    assert Reader(4).feed(v4) == [Publish("a/b", b"hi", 1, 10, True, True)]
    assert build_publish("a/b", b"", level=5) == h("30 06 00 03 61 2f 62 00")


def test_subscribe_unsubscribe_puback_ping_disconnect() -> None:
    # 3.1.1 section 3.8.3's example topics ("a/b" at QoS 1, "c/d" here at QoS 0)
    assert build_subscribe(10, [("a/b", 1), ("c/d", 0)], level=4) == h(
        "82 0e  00 0a  00 03 61 2f 62 01  00 03 63 2f 64 00")
    assert build_subscribe(10, [("a/b", 1)], level=5) == h("82 09 00 0a 00 00 03 61 2f 62 01")
    assert build_unsubscribe(10, ["a/b", "c/d"], level=4) == h(
        "a2 0c  00 0a  00 03 61 2f 62  00 03 63 2f 64")
    assert build_unsubscribe(10, ["a/b"], level=5) == h("a2 08 00 0a 00 00 03 61 2f 62")
    assert build_puback(7, level=4) == build_puback(7, level=5) == h("40 02 00 07")
    assert build_puback(7, level=5, code=0x10) == h("40 03 00 07 10")
    assert build_pingreq() == h("c0 00")
    assert build_disconnect(level=4) == build_disconnect(level=5) == h("e0 00")
    assert build_disconnect(level=5, code=0x04) == h("e0 01 04")


def test_a_long_packet_takes_two_length_bytes() -> None:
    payload = bytes(range(256)) * 2
    data = build_publish("t", payload, level=5, qos=1, packet_id=1)
    assert data[:4] == h("32 86 04 00")  # 3 + 2 + 1 + 512 = 518 = 0x06 + 0x04 * 128
    assert read_all(5, data, 7) == [Publish("t", payload, 1, 1, False, False)]


@pytest.mark.parametrize("call, why", [
    (lambda: build_publish("a/+", b"", level=4), "wildcards"),
    (lambda: build_publish("a", b"", level=4, qos=2, packet_id=1), "QoS 0 and 1"),
    (lambda: build_publish("a", b"", level=4, qos=1), "packet id None"),
    (lambda: build_publish("a", b"", level=4, qos=1, packet_id=0), "packet id 0"),
    (lambda: build_publish("a", b"", level=4, packet_id=3), "QoS 0 PUBLISH"),
    (lambda: build_publish("a", b"", level=4, user_properties=[("k", "v")]), "MQTT 5"),
    (lambda: build_publish("a", b"", level=3), "protocol level 3"),
    (lambda: build_connect("c", level=4, password=b"p"), "without a username"),
    (lambda: build_connect("c", level=4, session_expiry=1), "MQTT 5 property"),
    (lambda: build_connect("", level=4, clean=False), "empty client id"),
    (lambda: build_connect("c", level=4, keepalive=70_000), "keepalive"),
    (lambda: build_subscribe(1, [], level=4), "at least one"),
    (lambda: build_subscribe(1, [("a", 2)], level=4), "QoS 0 and 1"),
    (lambda: build_puback(1, level=4, code=0x80), "MQTT 5 only"),
    (lambda: build_disconnect(level=4, code=0x04), "MQTT 5 only"),
])
def test_what_mqtt_cannot_carry_is_a_value_error(call: Callable[[], bytes], why: str) -> None:
    with pytest.raises(ValueError, match=why):
        call()


# ------------------------------------------------------------------ reading

V5_STREAM = [
    (h("20 0d 01 00 0a 12 00 04 61 75 74 6f 13 00 1e"),
     ConnAck(True, 0, {Prop.ASSIGNED_CLIENT_IDENTIFIER: "auto", Prop.SERVER_KEEP_ALIVE: 30})),
    (h("90 06 00 0a 00 01 00 87"), SubAck(10, (1, 0, 0x87))),
    (h("b0 05 00 0b 00 00 11"), UnsubAck(11, (0, 0x11))),
    (build_publish("room/é", b'{"b":1}', level=5, qos=1, packet_id=3, dup=True,
                   user_properties=[("cmid", "c1"), ("cmid", "c2")]),
     Publish("room/é", b'{"b":1}', 1, 3, True, False, (("cmid", "c1"), ("cmid", "c2")))),
    (h("31 0a 00 01 74 05 02 00 00 00 3c 68"),  # QoS 0, retained, Message Expiry 60 s
     Publish("t", b"h", 0, None, False, True, (), {Prop.MESSAGE_EXPIRY_INTERVAL: 60})),
    (h("40 02 00 03"), PubAck(3)),
    (h("40 03 00 04 10"), PubAck(4, 0x10)),
    (h("40 07 00 05 87 03 1f 00 00"), PubAck(5, 0x87, {Prop.REASON_STRING: ""})),
    (h("d0 00"), PingResp()),
    (h("e0 01 8e"), Disconnect(0x8E)),
    (h("e0 06 8b 04 1f 00 01 78"), Disconnect(0x8B, {Prop.REASON_STRING: "x"})),
]
V4_STREAM = [
    (h("20 02 00 00"), ConnAck(False, 0)),
    (h("20 02 00 05"), ConnAck(False, 5)),  # not authorized
    (h("90 05 00 0a 00 01 80"), SubAck(10, (0, 1, 0x80))),  # 3.1.1 figure 3.26's codes
    (h("b0 02 00 0b"), UnsubAck(11)),
    (build_publish("a/b", b"x" * 300, level=4, qos=1, packet_id=9),
     Publish("a/b", b"x" * 300, 1, 9, False, False)),
    (h("40 02 00 09"), PubAck(9)),
    (h("d0 00"), PingResp()),
]


@pytest.mark.parametrize("level, stream", [(5, V5_STREAM), (4, V4_STREAM)])
def test_every_packet_reads_the_same_whole_or_byte_by_byte(
        level: int, stream: list[tuple[bytes, Packet]]) -> None:
    data = b"".join(raw for raw, _ in stream)
    expected = [packet for _, packet in stream]
    assert read_all(level, data, len(data)) == expected
    assert read_all(level, data, 1) == expected
    assert read_all(level, data, 5) == expected


def test_connack_properties_are_at_hand() -> None:
    (ack,) = Reader(5).feed(V5_STREAM[0][0])
    assert isinstance(ack, ConnAck) and ack.session_present and ack.code == 0
    assert (ack.assigned_client_id, ack.server_keep_alive) == ("auto", 30)
    assert ack.receive_maximum is None and ack.session_expiry_interval is None
    # an MQTT 5 refusal in 3.1.1's two bytes (a server that speaks no MQTT 5)
    assert Reader(5).feed(h("20 02 00 01")) == [ConnAck(False, 1)]


def test_packets_of_different_types_never_compare_equal() -> None:
    assert PubAck(7) != UnsubAck(7)
    assert PingResp() != Disconnect() and PingResp() != ()
    assert PubAck(7) == PubAck(7, 0)


def test_an_incomplete_packet_waits_for_its_bytes() -> None:
    reader = Reader(5)
    data = build_publish("t", b"y" * 1000, level=5, qos=1, packet_id=2)
    assert reader.feed(data[:1]) == [] and reader.pending == 1
    assert reader.feed(memoryview(data)[1:600]) == [] and reader.pending == 600
    assert reader.feed(data[600:] + h("40 02")) == [Publish("t", b"y" * 1000, 1, 2, False,
                                                            False)]
    assert reader.pending == 2
    assert reader.feed(bytearray(h("00 02"))) == [PubAck(2)] and reader.pending == 0
    assert reader.feed(b"") == []


# ------------------------------------------------------------------ malformed

MALFORMED = [
    (5, h("30 ff ff ff ff 01"), "remaining length longer than 4 bytes"),
    (4, h("d0 80 80 80 80"), "remaining length longer than 4 bytes"),  # no 5th byte yet
    (5, h("10 00"), "CONNECT, which a server never sends"),
    (4, h("82 00"), "SUBSCRIBE, which a server never sends"),
    (5, h("a2 00"), "UNSUBSCRIBE, which a server never sends"),
    (5, h("c0 00"), "PINGREQ, which a server never sends"),
    (5, h("62 02 00 01"), "PUBREL, of a QoS 2 flow"),
    (5, h("f0 00"), "AUTH, while this client never asks"),
    (5, h("00 00"), "reserved packet type 0"),
    (4, h("e0 00"), "DISCONNECT, which a 3.1.1 server never sends"),
    (5, h("30 03 00 05 61"), "PUBLISH topic name: truncated"),
    (4, h("32 04 00 01 74 00"), "PUBLISH packet id: truncated"),
    (5, h("40 01 00"), "PUBACK packet id: truncated"),
    (5, h("20 01 00"), "CONNACK: variable header of 1 bytes"),
    (4, h("20 03 00 00 00"), "CONNACK: variable header of 3 bytes"),
    (5, h("20 04 00 00 05 11"), "CONNACK: property length 5 runs past the end"),
    (5, h("20 07 00 00 04 13 00 1e 00"), "CONNACK: unknown property id 0"),
    (5, h("20 07 00 00 03 13 00 1e 00"), "CONNACK: 1 bytes after its properties"),
    (5, h("20 07 00 00 04 13 00 1e 13"), "CONNACK property SERVER_KEEP_ALIVE: value: trunc"),
    (5, h("20 09 00 00 06 13 00 1e 13 00 01"), "SERVER_KEEP_ALIVE appears twice"),
    (5, h("90 03 00 01 00"), "SUBACK without a return code"),
    (4, h("90 03 00 01 03"), "SUBACK return codes (3,)"),
    (5, h("30 05 00 02 ff fe 00"), "PUBLISH topic name is not valid UTF-8"),
    (4, h("30 05 00 03 ed a0 80"), "PUBLISH topic name is not valid UTF-8"),  # U+D800
    (5, h("30 06 00 03 61 00 62 00"), "PUBLISH topic name contains U+0000"),
    (5, h("30 07 00 01 74 03 26 00 05"), "PUBLISH property USER_PROPERTY: name: truncated"),
    (5, h("30 0a 00 01 74 06 26 00 01 6b 00 01"), "USER_PROPERTY: value: truncated"),
    (5, h("30 08 00 01 74 03 23 00 01 78"), "topic alias"),
    (5, h("30 03 00 01 23"), "PUBLISH topic name '#': empty or with a wildcard"),
    (4, h("30 02 00 00"), "PUBLISH topic name '': empty"),
    (5, h("36 03 00 01 74"), "PUBLISH with QoS 3"),
    (5, h("34 05 00 01 74 00 01"), "PUBLISH at QoS 2"),
    (4, h("38 03 00 01 74"), "PUBLISH at QoS 0 with the DUP flag"),
    (5, h("32 06 00 01 74 00 00 00"), "PUBLISH packet id 0"),
    (5, h("41 02 00 01"), "PUBACK: reserved flags 0x1 set"),
    (5, h("20 02 02 00"), "CONNACK: reserved acknowledge flags 0x2"),
    (5, h("d0 01 00"), "PINGRESP with a remaining length of 1"),
    (4, h("b0 03 00 01 00"), "UNSUBACK: variable header of 3 bytes"),
    (5, h("30") + vbi(DEFAULT_MAX_SIZE + 1), f"over the maximum of {DEFAULT_MAX_SIZE}"),
]


@pytest.mark.parametrize("level, data, why", MALFORMED)
def test_a_malformed_stream_is_a_fatal_violation_naming_what_is_wrong(
        level: int, data: bytes, why: str) -> None:
    for size in (len(data), 1):
        reader = Reader(level)
        with pytest.raises(ProtocolViolation, match=re.escape(why)) as err:
            for i in range(0, len(data), size):
                reader.feed(data[i:i + size])
        assert err.value.fatal and err.value.__cause__ is None
        with pytest.raises(ProtocolViolation, match="unreadable since"):
            reader.feed(h("d0 00"))  # the stream is lost: nothing more is read


def test_max_size_is_checked_before_the_body_arrives() -> None:
    reader = Reader(5, max_size=1024)
    assert reader.feed(h("30 80 08")) == []  # exactly 1024: wait for it
    reader = Reader(5, max_size=1024)
    with pytest.raises(MalformedPacket, match="remaining length 1025 is over the maximum"):
        reader.feed(h("30 81 08"))


def test_the_packets_before_a_violation_are_kept_on_it() -> None:
    with pytest.raises(MalformedPacket) as err:
        Reader(5).feed(h("40 02 00 01  d0 00  10 00"))
    assert err.value.before == [PubAck(1), PingResp()]


# ------------------------------------------------------------------ fuzzing

def _feed_in_pieces(level: int, data: bytes, cuts: list[int]) -> list[Packet]:
    reader = Reader(level, max_size=4096)
    out: list[Packet] = []
    start = 0
    for cut in sorted({c % (len(data) + 1) for c in cuts}) + [len(data)]:
        out += reader.feed(data[start:cut])
        start = cut
    return out


@settings(max_examples=400, deadline=None)
@given(level=st.sampled_from([4, 5]), data=st.binary(max_size=300),
       cuts=st.lists(st.integers(0, 300), max_size=8))
def test_random_bytes_only_ever_raise_protocol_violation(level: int, data: bytes,
                                                         cuts: list[int]) -> None:
    try:
        _feed_in_pieces(level, data, cuts)
    except ProtocolViolation as e:
        assert e.fatal and str(e)
        assert e.__cause__ is None, f"a check the codec lacks: {e}"


VALID = {level: b"".join(raw for raw, _ in stream)
         for level, stream in ((5, V5_STREAM), (4, V4_STREAM))}


@settings(max_examples=400, deadline=None)
@given(level=st.sampled_from([4, 5]), data=st.data())
def test_damaged_valid_streams_only_ever_raise_protocol_violation(
        level: int, data: st.DataObject) -> None:
    stream = bytearray(VALID[level])
    for _ in range(data.draw(st.integers(1, 4))):  # a few bytes overwritten, then cut
        stream[data.draw(st.integers(0, len(stream) - 1))] = data.draw(st.integers(0, 255))
    stream = stream[:data.draw(st.integers(0, len(stream)))]
    cuts = data.draw(st.lists(st.integers(0, len(stream)), max_size=6))
    try:
        _feed_in_pieces(level, bytes(stream), cuts)
    except ProtocolViolation as e:
        assert e.fatal and e.__cause__ is None, f"a check the codec lacks: {e}"


@settings(max_examples=100, deadline=None)
@given(level=st.sampled_from([4, 5]),
       cuts=st.lists(st.integers(0, 1000), max_size=12))
def test_any_chunking_reads_the_same_packets(level: int, cuts: list[int]) -> None:
    stream = V5_STREAM if level == 5 else V4_STREAM
    expected = [packet for _, packet in stream]
    assert _feed_in_pieces(level, VALID[level], cuts) == expected


# ------------------------------------------------------------------ the benchmark

def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_mqtt_codec", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_benchmark_measures_the_codec() -> None:
    figures = _bench().measure(number=50, repeat=1, chunk=5)
    for name in ("codec_encode", "floor_encode", "codec_decode", "floor_decode"):
        assert figures[name] > 0
