import pytest
from hypothesis import given
from hypothesis import strategies as st

from imload.protocol import (
    FrameError,
    decode_frame,
    decode_text_payload,
    encode_frame,
    validate_op,
    validate_request,
)


def err(data: str | bytes) -> FrameError:
    with pytest.raises(FrameError) as e:
        validate_request(decode_frame(data))
    return e.value


@pytest.mark.parametrize("data, code, words", [
    ("not json", "bad_frame", "not JSON"),
    ("[1, 2]", "bad_frame", "must be a JSON object"),
    ('{"rid": 1}', "bad_frame", "'t'"),
    ('{"t": 5}', "bad_frame", "'t'"),
    ('{"t": "teleport", "rid": 3}', "unknown_type", "teleport"),
    ('{"t": "send", "rid": 1}', "bad_frame", "missing field 'cmid'"),
    ('{"t": "send", "rid": 1, "cmid": "c", "conv": "d:a:b", "body": 7}', "bad_frame",
     "'body' must be str"),
    ('{"t": "sync", "rid": 1, "after": true}', "bad_frame", "'after' must be integer"),
    ('{"t": "ping"}', "bad_frame", "'rid' must be an integer"),
    ('{"t": "send", "rid": 1, "cmid": "", "conv": "d:a:b", "body": ""}', "bad_frame", "1 to 64"),
    (b'{"t": "ping", "rid": 1}', "bad_frame", "binary"),
])
def test_bad_frames_name_what_is_wrong(data: str | bytes, code: str, words: str) -> None:
    e = err(data)
    assert e.code == code and words in e.msg


def test_error_frame_echoes_rid() -> None:
    e = err('{"t": "teleport", "rid": 3}')
    assert e.to_frame() == {"t": "error", "code": "unknown_type", "rid": 3,
                            "msg": "unknown frame type 'teleport'"}
    assert "rid" not in err("nope").to_frame()


def test_good_requests_pass_and_round_trip() -> None:
    for frame in ({"t": "login", "rid": 1, "token": "x", "ts": 5},
                  {"t": "ack", "upto": 4},
                  {"t": "op", "rid": 2, "opid": "o", "kind": "pin", "args": {}, "extra": 1}):
        assert decode_frame(encode_frame(frame)) == frame
        validate_request(frame)


@given(st.text(max_size=200))
def test_any_text_decodes_or_raises_frame_error(text: str) -> None:
    try:
        validate_request(decode_frame(text))
    except FrameError:
        pass


@given(st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_text_payload_decodes_as_its_text_does(payload: bytes) -> None:
    try:
        expected: object = decode_frame(payload.decode())
    except (UnicodeDecodeError, FrameError) as e:
        expected = FrameError if isinstance(e, UnicodeDecodeError) else (e.code, e.rid)
    try:
        got: object = decode_text_payload(payload)
    except FrameError as e:
        got = FrameError if expected is FrameError else (e.code, e.rid)
    assert got == expected


def test_text_payload_of_a_frame() -> None:
    frame = {"t": "msg", "mid": "m1", "body": "héllo"}
    assert decode_text_payload(encode_frame(frame).encode()) == frame
    with pytest.raises(FrameError):
        decode_text_payload(b'{"t": "msg", "body": "\xff"}')
    with pytest.raises(FrameError):
        decode_text_payload(b'[1]')


@pytest.mark.parametrize("args, words", [
    ({"conv": "g:team", "user": "bob", "role": "owner"}, "'args.role' must be one of admin, "
     "member"),
    ({"conv": "g:team", "user": "bob", "role": 1}, "'args.role' must be str"),
    ({"conv": "g:team", "user": "bob"}, "'args.role' is missing"),
    ({"conv": "d:a:b", "user": "a", "role": "admin"}, "must be a group (g:<name>)"),
])
def test_a_role_op_gives_a_role_of_the_protocol_in_a_group(args: dict[str, object],
                                                            words: str) -> None:
    ok = {"t": "op", "rid": 1, "opid": "o", "kind": "group_role"}
    for role in ("admin", "member"):
        validate_op({**ok, "args": {"conv": "g:team", "user": "bob", "role": role}})
    with pytest.raises(FrameError) as e:
        validate_op({**ok, "args": args})
    assert e.value.code == "bad_frame" and words in e.value.msg
