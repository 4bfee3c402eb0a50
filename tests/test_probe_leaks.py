"""The error-frame leak check's pattern (imload/probe/leaks.py, pure): it recognises
tracebacks, source paths, exception names, addresses and store errors, and none of the
reference server's error messages."""

from __future__ import annotations

import pytest

from imload.probe.leaks import internals


@pytest.mark.parametrize("text", [
    'Traceback (most recent call last):\n  File "x.py", line 3, in <module>',
    'File "/srv/app/handlers.py", line 88', "KeyError: 'nope'", "json.decoder.JSONDecodeError",
    "at handler (/app/server.js:10:5)", "<Session object at 0x7f3a2b1c4d50>",
    "WRONGTYPE Operation against a key", "goroutine 7 [running]:",
    "java.lang.NullPointerException", "panic in main.go:42",
])
def test_internals_are_recognised(text: str) -> None:
    assert internals(text)


@pytest.mark.parametrize("text", [
    "binary frames are not accepted; send JSON text",
    "not JSON: unexpected character: line 1 column 1 (char 0)",
    "a frame must be a JSON object, got list", "unknown frame type 'nope'",
    "send: field 'cmid' must be str", "invalid token: Signature verification failed",
    "invalid token: Invalid header string: 'utf-8' codec can't decode byte 0x81 in "
    "position 0: invalid start byte", "sync: field 'limit' must be at least 1",
])
def test_the_reference_servers_errors_are_not_internals(text: str) -> None:
    assert internals(text) is None
