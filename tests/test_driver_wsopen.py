"""The driver's connection helpers: TLS contexts that cooperate with gevent."""

from __future__ import annotations

import gevent.socket
import gevent.ssl

from imload.drivers.wsopen import client_context


def test_the_client_context_makes_gevent_sockets_that_verify() -> None:
    ctx = client_context(None)
    assert isinstance(ctx, gevent.ssl.SSLContext)  # the stdlib's would block every greenlet
    assert ctx.check_hostname and ctx.verify_mode == gevent.ssl.CERT_REQUIRED
    raw = gevent.socket.socket()
    try:
        wrapped = ctx.wrap_socket(raw, server_hostname="localhost",
                                  do_handshake_on_connect=False)
        assert isinstance(wrapped, gevent.ssl.SSLSocket)
    finally:
        raw.close()
