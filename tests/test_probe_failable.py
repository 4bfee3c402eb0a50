"""Every probe check can fail: the checks no bug mode of the reference server breaks
(tests/test_probe.py has those) fail against a deliberately vulnerable test server
(tests/vulnerable_server.py), each with its evidence, and pass against the same server
without the flaw. No Redis, no node: the server runs in a thread of this process."""

from __future__ import annotations

from pathlib import Path

import pytest
from vulnerable_server import FLAWS, VulnerableServer

from imload.probe.catalogue import CATALOGUE
from imload.probe.checks import CHECKS, FAIL, PASS, Probe
from imload.probe.command import run_checks

SECRET = "f" * 32
# check -> the flaw of the test server that makes it fail
FAILS_ON = {
    "auth.garbage_token": "any-token",
    "auth.before_login": "serve-before-login",
    "input.oversize": "dies",
    "input.binary": "dies",
    "input.deep_nesting": "dies",
    "input.invalid_utf8": "dies",
    "input.wrong_types": "dies",
    "input.unknown_types": "dies",
    "leaks.error_frames": "leaky-errors",
    "abuse.slowloris": "no-handshake-timeout",
}
BY_NAME = {c.name: c for c in CATALOGUE}


def run(check: str, flaws: set[str], slow_s: float = 1.0) -> dict[str, str]:
    with VulnerableServer(SECRET, flaws) as server:
        result = run_checks(Probe(server.url, SECRET, slow_s=slow_s), [BY_NAME[check]])[0]
    return result


@pytest.mark.parametrize("check", sorted(FAILS_ON))
def test_the_check_fails_on_its_flaw_and_passes_without(check: str) -> None:
    flaw = FAILS_ON[check]
    failed = run(check, {flaw})
    assert failed["status"] == FAIL, failed
    assert failed["evidence"]
    passed = run(check, set(), slow_s=4.0)  # the handshake deadline is 2 s
    assert passed["status"] == PASS, passed


def test_every_flaw_is_used_and_every_failing_check_exists() -> None:
    assert set(FAILS_ON.values()) == FLAWS
    assert set(FAILS_ON) <= set(BY_NAME)


def test_the_evidence_says_what_failed() -> None:
    assert "no longer serves" in run("input.binary", {"dies"})["evidence"]
    assert "login_ok for user 'anonymous'" in run("auth.garbage_token", {"any-token"})[
        "evidence"]
    assert "Traceback" in run("leaks.error_frames", {"leaky-errors"})["evidence"]


def test_docs_security_names_every_check_and_how_it_fails() -> None:
    text = (Path(__file__).resolve().parent.parent / "docs" / "security.md").read_text()
    table, fails = text.split("## The checks", 1)[1].split("Every check can fail", 1)
    for check in CATALOGUE:
        assert f"| `{check.name}` |" in table, check.name
    for check in CHECKS:  # the families of checks.py; the others say so in their own tests
        assert f"`{check.name}`" in fails.split("##", 1)[0], check.name
