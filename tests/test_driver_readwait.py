"""The device greenlet's wait (imload/drivers/readwait.py) on real gevent sockets: bytes,
the end, a timer set meanwhile by another greenlet, and a blocking read interrupted.
Bounds are generous (a loaded machine): each wait that must end early is given 10 s."""

from __future__ import annotations

import time
from collections.abc import Iterator

import gevent
import gevent.socket
import pytest

from imload.drivers.readwait import ReadWait, plain_socket

Pair = tuple[gevent.socket.socket, gevent.socket.socket]


@pytest.fixture
def ab() -> Iterator[Pair]:
    a, b = gevent.socket.socketpair()
    with a, b:
        yield a, b


def test_bytes_end_the_wait_with_true_and_the_end_with_false(ab: Pair) -> None:
    a, b = ab
    raw, watcher = plain_socket(a) or (None, None)
    assert raw is a._sock and watcher is a._read_event
    rw = ReadWait(time.monotonic)
    gevent.spawn_later(0.05, b.send, b"x")
    t0 = time.monotonic()
    assert rw.wait(watcher, t0 + 10.0) is True and time.monotonic() - t0 < 5.0
    assert raw.recv(10) == b"x" and not rw.waiting
    t0 = time.monotonic()
    assert rw.wait(watcher, t0 + 0.05) is False
    assert 0.04 <= time.monotonic() - t0 < 5.0


def test_a_timer_set_meanwhile_ends_the_wait_early(ab: Pair) -> None:
    a, b = ab
    rw = ReadWait(time.monotonic)
    t0 = time.monotonic()
    gevent.spawn_later(0.02, lambda: rw.earlier(time.monotonic() + 0.03))
    assert rw.wait(a._read_event, t0 + 10.0) is False
    assert time.monotonic() - t0 < 5.0
    rw.earlier(0.0)  # no wait under way: nothing to end
    assert rw.end > 0.0


def test_the_timer_is_made_anew_only_when_the_end_moves(ab: Pair) -> None:
    a, b = ab
    rw = ReadWait(time.monotonic)
    end = time.monotonic() + 10.0
    b.send(b"1")
    assert rw.wait(a._read_event, end) is True
    timer = rw._timer
    a.recv(10)
    b.send(b"2")
    assert rw.wait(a._read_event, end) is True and rw._timer is timer  # the same end
    a.recv(10)
    b.send(b"3")
    assert rw.wait(a._read_event, end + 1.0) is True and rw._timer is not timer
    rw.cancel()
    assert rw._timer is None


def test_a_blocking_read_is_interrupted_at_the_end(ab: Pair) -> None:
    a, b = ab
    a.settimeout(30.0)  # the socket's own timeout is not what ends it
    rw = ReadWait(time.monotonic)
    t0 = time.monotonic()
    assert rw.run_blocking(lambda: a.recv(10), t0 + 0.05) is False
    assert time.monotonic() - t0 < 5.0 and not rw.waiting
    got: list[bytes] = []
    b.send(b"y")
    assert rw.run_blocking(lambda: got.append(a.recv(10)), time.monotonic() + 10.0)
    assert got == [b"y"]
    assert plain_socket(object()) is None  # not a plain gevent socket: blocking reads
