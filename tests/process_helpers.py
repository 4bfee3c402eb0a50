"""A server a test starts itself (toxiproxy-server, Prometheus): started with its output to a
log, waited for until it answers, stopped at the end whatever happened."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def serving(argv: Sequence[str], log: Path, ready: Callable[[], bool], what: str,
            timeout_s: float) -> Iterator[subprocess.Popen[bytes]]:
    """``argv`` running in its own session, its output in ``log``, once ``ready()``; fails
    the test naming ``what`` (with the log) when it exits or is not ready in ``timeout_s``.
    Terminated (then killed) at exit."""
    with log.open("wb") as out:
        proc = subprocess.Popen(list(argv), stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        deadline = time.monotonic() + timeout_s
        while not ready():
            assert proc.poll() is None, f"{what} exited: {log.read_text()}"
            assert time.monotonic() < deadline, f"{what} not ready in {timeout_s:g} s"
            time.sleep(0.05)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
