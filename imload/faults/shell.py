"""The one wrapper of the network commands packet faults run (``ip``, ``tc``, ``nft``,
``iptables``): their output, or ``NetError`` naming the command and its error."""

from __future__ import annotations

import subprocess


class NetError(RuntimeError):
    """A namespace, link, rule or emulator that could not be made or removed."""


def sh(argv: list[str], stdin: str | None = None, timeout_s: float = 20.0) -> str:
    """Run ``argv``; its output, or NetError naming the command and its error."""
    try:
        done = subprocess.run(argv, input=stdin, capture_output=True, text=True,
                              timeout=timeout_s)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise NetError(f"{' '.join(argv)}: {e}") from None
    if done.returncode != 0:
        tail = " / ".join((done.stderr or done.stdout).strip().splitlines()[-3:])
        raise NetError(f"{' '.join(argv)} failed (exit {done.returncode}): {tail}")
    return done.stdout


def works(argv: list[str], stdin: str | None = None) -> bool:
    """Whether ``argv`` succeeds (a probe)."""
    try:
        sh(argv, stdin)
    except NetError:
        return False
    return True


GONE = ("No such file", "Cannot find device", "does not exist", "Cannot delete qdisc with "
        "handle of zero", "Invalid handle", "not found", "Bad rule")


def quiet(argv: list[str], stdin: str | None = None) -> list[str]:
    """Run a removal; [] when it worked or there was nothing to remove, else its error."""
    try:
        sh(argv, stdin)
    except NetError as e:
        return [] if any(g in str(e) for g in GONE) else [str(e)]
    return []
