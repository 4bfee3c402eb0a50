"""Byte-stream connections (imload/drivers/tcpconn.py), against a real local socket."""

from __future__ import annotations

import gevent
import gevent.server
import gevent.socket
import pytest

from imload.drivers.buffered import OP_TEXT
from imload.drivers.tcpconn import StreamReader, open_tcp, raw_payload


def test_each_chunk_is_handed_out_once_and_a_close_is_a_connection_error() -> None:
    def serve(sock: gevent.socket.socket, _addr: object) -> None:
        sock.sendall(b"<stream:stream>")
        gevent.sleep(0.05)
        sock.sendall(b"<a/>")
        sock.close()

    server = gevent.server.StreamServer(("127.0.0.1", 0), serve)
    server.start()
    try:
        conn = open_tcp(f"tcp://127.0.0.1:{server.server_port}")
        chunks = []
        with pytest.raises(ConnectionError, match="closed"):
            for _ in range(10):
                conn.sock.fill()
                while (got := conn.sock.next_message()) is not None:
                    chunks.append(got)
        assert b"".join(c for _, c in chunks) == b"<stream:stream><a/>"
        assert all(op == OP_TEXT for op, _ in chunks) and conn.sock.next_message() is None
        conn.send_close()  # no-ops on a stream
        conn.pong(b"")
        conn.shutdown()
    finally:
        server.stop()
    assert raw_payload(b"x") == b"x"


def test_a_plain_stream_is_read_without_blocking() -> None:
    a, b = gevent.socket.socketpair()
    with a, b:
        r = StreamReader(a)
        b.sendall(b"<a/>")
        assert r.read_event is a._read_event and gevent.socket.wait_read(a.fileno(), 10) is None
        assert r.fill_ready() is True and r.next_message() == (OP_TEXT, b"<a/>")


@pytest.mark.parametrize("url", ["ws://127.0.0.1:1/ws", "tcp://127.0.0.1", "tcp://:5222",
                                 "tls://127.0.0.1", "mqtts://127.0.0.1:8883"])
def test_a_url_that_is_no_tcp_or_tls_address_is_refused(url: str) -> None:
    with pytest.raises(ValueError, match="tcp://host:port or tls://host:port"):
        open_tcp(url)
