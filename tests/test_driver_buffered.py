"""ReadAhead: frames parsed from one kernel read; partial frames wait for the next fill."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imload.drivers.buffered import (
    OP_BINARY,
    OP_CLOSE,
    OP_CONT,
    OP_PING,
    OP_TEXT,
    FrameTooBig,
    ReadAhead,
)


class Sock:
    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks
        self.calls = 0
        self.timeout = 3.0

    def recv(self, n: int) -> bytes:
        self.calls += 1
        return self.chunks.pop(0) if self.chunks else b""

    def gettimeout(self) -> float:
        return self.timeout


def frame(op: int, payload: bytes, fin: bool = True, mask: bytes | None = None) -> bytes:
    n = len(payload)
    head = bytes([(0x80 if fin else 0) | op])
    m = 0x80 if mask else 0
    if n < 126:
        head += bytes([m | n])
    elif n < 65536:
        head += bytes([m | 126]) + n.to_bytes(2, "big")
    else:
        head += bytes([m | 127]) + n.to_bytes(8, "big")
    if mask:
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        head += mask
    return head + payload


def test_many_frames_from_one_read_and_nothing_kept_idle() -> None:
    big = b"x" * 300
    s = Sock([frame(OP_TEXT, b"hello") + frame(OP_TEXT, big) + frame(OP_PING, b"p")])
    r = ReadAhead(s)
    assert r.next_message() is None  # nothing read yet
    r.fill()
    assert r.next_message() == (OP_TEXT, b"hello")
    assert r.next_message() == (OP_TEXT, big)
    assert r.next_message() == (OP_PING, b"p")
    assert r.next_message() is None and s.calls == 1 and r.pending == 0 and r._buf == b""
    with pytest.raises(ConnectionError):
        r.fill()


def test_split_frames_wait_for_the_rest() -> None:
    data = frame(OP_TEXT, b"y" * 70000) + frame(OP_CLOSE, b"\x03\xe8bye")
    chunks = [data[:1], data[1:5], data[5:40000], data[40000:]]
    r = ReadAhead(Sock(chunks))
    got = []
    while len(got) < 2:
        m = r.next_message()
        if m is None:
            r.fill()
        else:
            got.append(m)
    assert got == [(OP_TEXT, b"y" * 70000), (OP_CLOSE, b"\x03\xe8bye")]


def test_fragments_masks_and_limits() -> None:
    mask = b"\x01\x02\x03\x04"
    data = (frame(OP_BINARY, b"ab", fin=False) + frame(OP_PING, b"") +
            frame(OP_CONT, b"cd", fin=False, mask=mask) + frame(OP_CONT, b"e"))
    r = ReadAhead(Sock([data]))
    r.fill()
    assert r.next_message() == (OP_PING, b"")  # control frames between fragments
    assert r.next_message() == (OP_BINARY, b"abcde")
    small = ReadAhead(Sock([frame(OP_TEXT, b"z" * 200)]), max_size=100)
    small.fill()
    with pytest.raises(FrameTooBig):
        small.next_message()
    legacy = ReadAhead(Sock([b"abcdef"]))
    assert [legacy.recv(2), legacy.recv(10)] == [b"ab", b"cdef"] and legacy.gettimeout() == 3.0


def test_client_text_frames_parse_back() -> None:
    from imload.drivers.wsopen import text_frame
    for n in (0, 5, 125, 126, 300, 70000):
        payload = bytes(i % 251 for i in range(n))
        data = text_frame(payload)
        assert data[0] == 0x81 and data[1] & 0x80  # final text frame, masked
        r = ReadAhead(Sock([data]))
        r.fill()
        assert r.next_message() == (OP_TEXT, payload)


@given(st.lists(st.tuples(st.sampled_from([OP_TEXT, OP_BINARY, OP_PING]),
                          st.integers(0, 70000), st.booleans(), st.booleans()),
                max_size=6),
       st.lists(st.integers(1, 9000), max_size=30))
@settings(max_examples=60, deadline=None)
def test_any_frames_in_any_chunks_come_out_whole(specs: list[tuple[int, int, bool, bool]],
                                                 cuts: list[int]) -> None:
    """The fast path (final unmasked text frames) and the general one agree."""
    sent, wire = [], b""
    for i, (op, n, masked, split) in enumerate(specs):
        payload = bytes([i % 251]) * (n if op != OP_PING else n % 126)
        if split and op != OP_PING and len(payload) > 1:
            wire += frame(op, payload[:1], fin=False) + frame(OP_CONT, payload[1:],
                                                              mask=b"kkkk" if masked else None)
        else:
            wire += frame(op, payload, mask=b"abcd" if masked else None)
        sent.append((op, payload))
    chunks, at = [], 0
    for c in cuts:
        if at < len(wire):
            chunks.append(wire[at:at + c])
            at += c
    if at < len(wire):
        chunks.append(wire[at:])
    r = ReadAhead(Sock(chunks))
    got = []
    while len(got) < len(sent):
        m = r.next_message()
        if m is None:
            r.fill()
            continue
        got.append(m)
    assert got == sent
    assert r.pending == 0


def test_fill_ready_takes_what_a_plain_socket_holds_without_blocking() -> None:
    import gevent.socket
    a, b = gevent.socket.socketpair()
    try:
        r = ReadAhead(a)
        assert r.read_event is a._read_event
        assert r.fill_ready() is False and r.next_message() is None  # nothing there: no wait
        b.sendall(frame(OP_TEXT, b"hi"))
        gevent.socket.wait_read(a.fileno(), timeout=10)
        assert r.fill_ready() is True and r.next_message() == (OP_TEXT, b"hi")
        b.close()
        with pytest.raises(ConnectionError):
            r.fill_ready()
    finally:
        a.close()
        b.close()
    assert ReadAhead(Sock([])).read_event is None  # not a plain socket: fill() only
