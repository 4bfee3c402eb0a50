"""The LBS answer's parsing (the HTTP exchange itself is in test_driver.py)."""

from __future__ import annotations

import pytest

from imload.drivers.lbs_http import RouteError, parse_route

BODY = b'{"nodes": [{"id": "n2", "url": "ws://h:2/ws", "load": 0.1}, {"id": "n1", "url": "ws://h:1/ws"}]}'


def test_nodes_in_the_lbs_order() -> None:
    assert parse_route(200, {}, BODY) == ["ws://h:2/ws", "ws://h:1/ws"]
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(BODY), BODY)
    assert parse_route(200, {"transfer-encoding": "chunked"}, chunked) == [
        "ws://h:2/ws", "ws://h:1/ws"]
    assert parse_route(200, {}, b'{"nodes": [{"id": "x"}, 3]}') == []


@pytest.mark.parametrize("status, body, words", [
    (503, b"{}", "HTTP 503"), (200, b"nope", "not JSON"), (200, b"[]", "no 'nodes'")])
def test_unusable_answers(status: int, body: bytes, words: str) -> None:
    with pytest.raises(RouteError, match=words):
        parse_route(status, {}, body)
