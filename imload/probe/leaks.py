"""Leaks: what the node tells an attacker about itself. The handshake's headers must name
no software versions; message ids must not count the platform's messages; and error
frames, whatever malformed input they answer, must hold no internals: no traceback, no
source path or line, no exception class name, no memory address, no store's error text.
"""

from __future__ import annotations

import re
from typing import Any

from websockets.exceptions import ConnectionClosed

from imload.probe.base import FAIL, NA, PASS, Check, Finding, Probe, answers
from imload.probe.inputs import INVALID_UTF8, MALFORMED, UNKNOWN_TYPES, wrong_types
from imload.protocol import direct_conv

VERSION = re.compile(r"\d+\.\d+")
# what an error frame must not hold: a traceback (Python, Java, Go, Node), a source file
# and line, an exception's class name, a memory address, a store's or database's error
INTERNALS = re.compile(
    r"Traceback \(most recent call last\)|File \"[^\"]+\", line \d+"
    r"|\b\w+\.(?:py|java|go|js|ts|rb|php|cs|ex|erl):\d+"
    r"|(?:^|[\s\"'(])/(?:home|usr|opt|srv|var|app|root|tmp)/\S+"
    r"|\b[A-Z][A-Za-z0-9]*(?:Error|Exception)\b|\bgoroutine \d+ \["
    r"|\bat 0x[0-9a-fA-F]{6,}|\bWRONGTYPE\b|\bNOSCRIPT\b|\bSQLSTATE\b"
    r"|\bsyntax error at or near\b")


def internals(text: str) -> str | None:
    """The first piece of ``text`` that gives away the server's internals, or None."""
    found = INTERNALS.search(text)
    return found.group(0).strip() if found else None


def server_header(p: Probe) -> Finding:
    with p.link() as link:
        named = {k: v for k, v in link.headers.items() if k.lower() in ("server", "x-powered-by")
                 and VERSION.search(v)}
    if named:
        return Finding(FAIL, "; ".join(f"{k}: {v}" for k, v in named.items()))
    return Finding(PASS, "no versions in the handshake's headers")


def sequential_mids(p: Probe) -> Finding:
    a, b, _ = p.users
    with p.logged_in(a) as link:
        mids = [link.request("send", cmid=f"probe-seq-{i}", conv=direct_conv(a, b),
                             body="counting").get("mid") for i in range(2)]
    numbers = [re.fullmatch(r"\D*(\d+)", m) if isinstance(m, str) else None for m in mids]
    if None in numbers:
        return Finding(PASS, f"ids not counter-shaped: {mids}")
    gap = int(numbers[1].group(1)) - int(numbers[0].group(1))  # type: ignore[union-attr]
    if 0 < gap <= 1000:
        return Finding(FAIL, f"two messages in a row got {mids[0]} and {mids[1]}: the gap "
                             "counts the platform's messages in between")
    return Finding(PASS, f"ids {mids}")


def _errors(p: Probe) -> list[dict[str, Any]]:
    """The error frames the node answers malformed input with: before login, a refused
    login, and after login every malformed, mistyped and unknown frame of the input checks,
    then a text frame of invalid UTF-8 (which may close the connection)."""
    a, b, _ = p.users
    seen: list[dict[str, Any]] = []
    with p.link() as link:
        seen += answers(link, {"t": "sync", "rid": 1, "after": 0})
        try:
            seen += answers(link, {"t": "login", "rid": 2, "token": "garbage.garbage.x"})
        except ConnectionClosed:
            pass
    for frames in (wrong_types(a, b), UNKNOWN_TYPES, MALFORMED):
        with p.logged_in(a, "probe-leaks") as link:
            for frame in frames:
                try:
                    seen += answers(link, frame)
                except ConnectionClosed:
                    break
    with p.logged_in(a, "probe-leaks") as link:
        try:
            seen += answers(link, INVALID_UTF8, text=True)
        except ConnectionClosed:
            pass
    return [f for f in seen if f.get("t") == "error"]


def error_frames(p: Probe) -> Finding:
    errors = _errors(p)
    if not errors:
        return Finding(NA, "no malformed input was answered with an error frame")
    for frame in errors:
        leak = internals(str(frame.get("msg", "")) + " " + str(frame.get("code", "")))
        if leak:
            return Finding(FAIL, f"an error frame gives away {leak!r}: "
                                 f"{str(frame.get('msg'))[:300]!r}")
    return Finding(PASS, f"{len(errors)} error frames, none with internals")


LEAK_CHECKS: tuple[Check, ...] = (
    Check("leaks.server_header", "names its software's versions in the handshake",
          server_header),
    Check("leaks.sequential_mids", "numbers messages from one global counter: any user "
          "measures the platform's traffic", sequential_mids),
    Check("leaks.error_frames", "puts tracebacks, source paths or exception names in its "
          "error frames", error_frames),
)
