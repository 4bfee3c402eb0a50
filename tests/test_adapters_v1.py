"""Protocol v1's adapter: the JSON codec, nothing of its own to say."""

from __future__ import annotations

import orjson
import pytest

from imload.adapters import DeviceIdentity, ProtocolViolation
from imload.adapters.v1 import V1Adapter


def _adapter() -> V1Adapter:
    return V1Adapter(DeviceIdentity("alice", "phone", "token"))


def test_an_intent_is_one_json_payload_and_a_frame_one_event() -> None:
    a = _adapter()
    frame = {"t": "send", "rid": 3, "cmid": "c1", "conv": "d:alice:bob", "body": "hé"}
    [payload] = a.encode(frame, 0.0)
    assert orjson.loads(payload) == frame
    assert list(a.decode(b'{"t":"pong","rid":3,"server_ts":5}', 0.0)) == [
        {"t": "pong", "rid": 3, "server_ts": 5}]
    assert not a.has_output and not a.has_events and a.output() == [] and a.events() == []


@pytest.mark.parametrize(("payload", "why"), [
    (b"not json", "not JSON"),
    (b"[1, 2]", "must be a JSON object"),
    (b'{"rid": 1}', "string field 't'"),
    (b"\\xff\\xfe", "not JSON"),
])
def test_a_bad_frame_is_a_protocol_violation_not_fatal(payload: bytes, why: str) -> None:
    with pytest.raises(ProtocolViolation, match=why) as err:
        _adapter().decode(payload, 0.0)
    assert err.value.fatal is False


def test_its_codec_is_the_same_codec_one_frame_at_a_time() -> None:
    assert V1Adapter.codec is not None
    encode_one, decode_one = V1Adapter.codec
    frame = {"t": "ack", "upto": 7}
    assert encode_one(frame) == _adapter().encode(frame, 0.0)[0]
    assert decode_one(b'{"t":"pong","rid":1}') == {"t": "pong", "rid": 1}
    with pytest.raises(ProtocolViolation, match="not JSON"):
        decode_one(b"{")
