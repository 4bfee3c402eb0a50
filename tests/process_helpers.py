"""Processes a test starts itself: a server (toxiproxy-server, Prometheus) started with its
output to a log, waited for until it answers, stopped at the end whatever happened; and
``imload run`` in the background, its stderr collected, interrupted if still going."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def like_a_terminal() -> None:
    """A child's ``preexec_fn``: SIGINT at its default, as a terminal starts a command, so
    Ctrl-C (SIGINT) reaches it as KeyboardInterrupt even when this suite runs with SIGINT
    ignored (pytest-xdist's workers; a background job of a non-interactive shell): an
    ignored signal stays ignored across exec."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


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


@contextmanager
def imload_in_background(args: list[str], out: Path
                         ) -> Iterator[tuple[subprocess.Popen[str], list[str]]]:
    """``imload run ARGS`` in the background, its stderr lines collected as they come;
    interrupted (its own clean-up runs) if still going at exit."""
    with open(out.parent / "run.stdout", "w") as stdout:
        proc = subprocess.Popen([sys.executable, "-m", "imload", "run", *args, "--out",
                                 str(out)], cwd=REPO, stdout=stdout, stderr=subprocess.PIPE,
                                text=True, preexec_fn=like_a_terminal)
    lines: list[str] = []
    err = proc.stderr
    assert err is not None
    reader = threading.Thread(target=lambda: lines.extend(iter(err.readline, "")), daemon=True)
    reader.start()
    try:
        yield proc, lines
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)  # the run heals and stops what it started
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        reader.join(timeout=10)
        err.close()


@contextmanager
def script_server(script: str, *args: str) -> Iterator[tuple[int, subprocess.Popen[str]]]:
    """A server running Python ``script`` (with ``args``) in a process of its own (a thread
    of a pytest worker shares its interpreter and is slow here); the script prints its port
    first: (that port, the process). Killed at the end if it is still running."""
    proc = subprocess.Popen([sys.executable, "-c", script, *args], stdout=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout is not None
        yield int(proc.stdout.readline()), proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


@contextmanager
def ctrl_c_on_leaving(script: str, *args: str, timeout_s: float = 60) -> Iterator[str]:
    """Run Python ``script`` (with ``args``) as a terminal would, so Ctrl-C reaches it; the
    first line it prints, then, on leaving the block, Ctrl-C and a wait for its end (it
    is killed if it will not end, or if the block failed)."""
    proc = subprocess.Popen([sys.executable, "-c", script, *args], cwd=REPO,
                            preexec_fn=like_a_terminal, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        yield proc.stdout.readline().strip()
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=timeout_s)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
