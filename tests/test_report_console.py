"""The console table: banner, counts, anomalies with their first example, latency, faults."""

import io

from journal_builder import two_friends
from rich.console import Console

from imload.check import check
from imload.report.console import render_verdict


def render(verdict: dict, run_dir: str | None = "runs/demo", width: int = 100) -> str:
    console = Console(record=True, width=width)
    render_verdict(verdict, console, run_dir)
    return console.export_text()


def faulty_run() -> dict:
    j = two_friends()
    j.fault("start", "f1", kind="down", target="n2", at=101.0)
    j.message("alice", "phone", "bob", "c1")
    j.message("alice", "phone", "bob", "c2", skip=(("bob", "phone"),))
    j.fault("stop", "f1", kind="down", target="n2", at=103.5)
    return check(j.events, bad_lines=["run.jsonl:9: not JSON"])


def clean_run() -> dict:
    j = two_friends()
    j.message("alice", "phone", "bob", "c1")
    return check(j.events)


def test_a_passing_verdict() -> None:
    out = render(clean_run())
    assert "PASSED" in out and "FAILED" not in out
    assert "lost" in out and "order" in out
    assert "logical sends" in out and "expected deliveries" in out
    assert "latency (ms)" in out and "p99.9" in out and "e2e" in out
    assert "faults: none injected" in out
    assert "run folder: runs/demo" in out


def test_a_failing_verdict_names_the_anomaly_its_example_and_the_faults() -> None:
    v = faulty_run()
    out = render(v)
    assert "FAILED" in out and "PASSED" not in out
    first = v["examples"]["lost"][0]["explain"]
    assert "c2" in first
    flat = " ".join(out.split())
    assert "never received it" in flat and "bob/phone" in flat
    assert "down" in out and "n2" in out and "→" in out
    assert "run.jsonl:9: not JSON" in out


def test_unknown_verdict_says_why() -> None:
    out = render(check(two_friends().events), run_dir=None)
    assert "FAILED" in out and "unknown" in out and "run folder" not in out


def test_each_anomaly_kind_renders() -> None:
    j = two_friends()
    j.message("alice", "phone", "bob", "c1", skip=(("bob", "phone"),))
    j.message("alice", "phone", "bob", "c2", digest="bad0bad0bad0bad0")
    j.deliver("bob", "phone", "alice", "ghost", mid="m50", seq=50, via="sync")
    j.send("alice", "phone", "c3", "bob")
    j.fail("alice", "c3")
    j.deliver("bob", "phone", "alice", "c3")
    j.send("alice", "phone", "c4", "bob")
    j.ack("alice", "c4", mid="m1", seq=9)
    v = check(j.events)
    out = " ".join(render(v).split())
    for kind, count in v["anomalies"].items():
        if count:
            assert v["examples"][kind][0]["explain"][:30] in out, kind


def test_plain_text_at_width_80_on_a_non_terminal() -> None:
    buf = io.StringIO()
    console = Console(file=buf, width=80)
    assert not console.is_terminal
    render_verdict(faulty_run(), console, "/tmp/a/rather/long/run/folder/name/for/imload")
    text = buf.getvalue()
    assert "\x1b[" not in text  # no colour codes
    assert all(len(line) <= 80 for line in text.splitlines())
    assert "FAILED" in text


def test_extra_keys_from_the_run_are_shown_or_ignored() -> None:
    v = clean_run()
    v.update({"errors": ["audit: bob/phone timed out"], "scenario": "default"})
    v["slo"] = [{"name": "e2e p99", "limit": 500, "value": 730.0, "passed": False}]
    v["passed"] = False
    out = render(v)
    assert "audit: bob/phone timed out" in out
    assert "SLOs" in out and "e2e p99" in out and "NO" in out


def test_the_first_cases_are_shown_with_their_events() -> None:
    j = two_friends()
    for i in range(5):
        j.message("alice", "phone", "bob", f"c{i}", skip=(("bob", "phone"),))
    j.send("alice", "phone", "i1", "bob")
    j.info("alice", "i1", reason="retry budget")
    v = check(j.events)
    out = render(v, width=160)
    assert "evidence" in out and "lost #1:" in out and "lost #3:" in out
    assert "lost #4:" not in out and "lost: 2 more case(s) in verdict.json" in out
    assert "send_ok @" in out and "cmid=c0" in out
    assert "frames per message" in out and "indeterminate because: retry budget 1" in out
    assert "evidence" not in render(clean_run())
