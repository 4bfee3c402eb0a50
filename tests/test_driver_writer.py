"""FrameWriter: the frames of one loop turn go out together, in order, or fail once."""

from __future__ import annotations

from typing import Any

import gevent
import gevent.lock
import gevent.socket

from imload.drivers.writer import FrameWriter


def pair() -> tuple[Any, Any]:
    a, b = gevent.socket.socketpair()
    return a, b


def read_exactly(sock: Any, n: int) -> bytes:
    out = b""
    while len(out) < n:
        chunk = sock.recv(n - len(out))
        assert chunk
        out += chunk
    return out


def test_frames_of_one_turn_leave_together_in_order() -> None:
    a, b = pair()
    errors: list[BaseException] = []
    w = FrameWriter(a, gevent.lock.Semaphore(), errors.append)
    sends: list[bytes] = []
    raw_send = w._raw.send
    w._raw = type("Spy", (), {"send": lambda self, d: sends.append(bytes(d)) or raw_send(d)})()
    for i in range(5):
        w.write(b"frame%d;" % i)
    assert w.pending == 5 * 7  # nothing on the wire before this greenlet yields
    gevent.sleep(0)
    assert w.pending == 0
    assert sends == [b"frame0;frame1;frame2;frame3;frame4;"]
    assert read_exactly(b, 35) == b"frame0;frame1;frame2;frame3;frame4;"
    assert not errors


def test_flush_writes_at_once() -> None:
    a, b = pair()
    w = FrameWriter(a, gevent.lock.Semaphore(), lambda e: None)
    w.write(b"x")
    w.write(b"y")
    w.flush()
    assert w.pending == 0
    assert read_exactly(b, 2) == b"xy"
    gevent.sleep(0)  # the scheduled flush finds nothing to do
    assert w.pending == 0 and not w.failed


def test_more_than_the_kernel_takes_is_written_by_a_greenlet() -> None:
    a, b = pair()
    w = FrameWriter(a, gevent.lock.Semaphore(), lambda e: None)
    blob = bytes(range(256)) * 16384  # 4 MiB, far beyond a socket buffer
    w.write(blob[:1000])
    w.write(blob[1000:])
    reader = gevent.spawn(read_exactly, b, len(blob))
    assert reader.get(timeout=10) == blob
    assert w.pending == 0


def test_a_held_lock_defers_the_write_in_order() -> None:
    a, b = pair()
    lock = gevent.lock.Semaphore()
    w = FrameWriter(a, lock, lambda e: None)
    lock.acquire()  # websocket-client writing a pong, say
    w.write(b"1")
    gevent.sleep(0)
    w.write(b"2")
    assert w.pending == 2
    lock.release()
    assert gevent.spawn(read_exactly, b, 2).get(timeout=5) == b"12"


def test_a_socket_that_is_not_plain_is_written_with_sendall() -> None:
    class Tls:
        def __init__(self) -> None:
            self.data: list[bytes] = []

        def sendall(self, data: bytes) -> None:
            self.data.append(bytes(data))

    sock = Tls()
    w = FrameWriter(sock, gevent.lock.Semaphore(), lambda e: None)
    w.write(b"a")
    w.write(b"b")
    gevent.sleep(0.01)
    assert sock.data == [b"ab"]


def test_a_failed_write_is_reported_once_and_later_writes_are_dropped() -> None:
    a, b = pair()
    b.close()
    a.close()
    errors: list[BaseException] = []
    w = FrameWriter(a, gevent.lock.Semaphore(), errors.append)
    w.write(b"lost")
    gevent.sleep(0.01)
    assert w.failed and len(errors) == 1
    w.write(b"more")
    gevent.sleep(0.01)
    assert w.pending == 0 and len(errors) == 1


def test_discard_drops_what_waits() -> None:
    a, b = pair()
    w = FrameWriter(a, gevent.lock.Semaphore(), lambda e: None)
    w.write(b"gone")
    w.discard()
    gevent.sleep(0)
    w.write(b"also gone")
    w.flush()
    a.close()
    assert b.recv(10) == b""
