"""The console table: banner, counts, anomalies with their first example, coverage and what
could not be judged, latency, faults."""

import io
from pathlib import Path

from coverage_journals import fully_judged, group_older_than_the_run
from journal_builder import two_friends
from rich.console import Console

from imload.check import check
from imload.report.console import render_verdict
from imload.slo import Slo, apply_slos


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
    j.audit_all()
    return check(j.events, bad_lines=["run.jsonl:9: not JSON"])


def clean_run() -> dict:
    return apply_slos(check(fully_judged().events), [])


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


def test_nothing_checked_is_unknown_and_says_why() -> None:
    out = render(apply_slos(check(two_friends().events), []), run_dir=None)
    assert "UNKNOWN" in out and "FAILED" not in out and "PASSED" not in out
    assert "nothing was acked and nothing delivered" in out and "run folder" not in out


def test_short_coverage_is_unknown_with_each_sentence_and_its_reasons() -> None:
    v = apply_slos(check(group_older_than_the_run().events), [])
    out = render(v, width=160)
    assert out.lstrip().startswith("UNKNOWN") and "PASSED" not in out and "FAILED" not in out
    assert "not everything could be judged: lost 25 % (1 / 4 acked messages)" in out
    flat = " ".join(out.split())
    for sentence in v["unknown"]:
        assert "UNKNOWN: " + " ".join(sentence.split()) in flat
    assert "coverage" in out and "1 / 4" in out and "acked messages" in out
    assert "members unknown (3)" in flat
    assert "slo lost coverage" not in out  # the yellow reason says it, not a red SLO
    # a second reason's example is shown under the sentence (which has the first's)
    v["coverage"]["lost"]["reasons"].append({"reason": "membership op not placed", "count": 1,
                                             "example": "g:x: op o9 has no event"})
    flat = " ".join(render(v, width=160).split())
    assert "membership op not placed (1): e.g. g:x: op o9 has no event" in flat


def test_coverage_accepted_by_an_slo_passes_and_says_so() -> None:
    v = apply_slos(check(group_older_than_the_run().events),
                   [Slo("coverage.lost.percent", min=20), Slo("coverage.gap.percent", min=0)])
    out = " ".join(render(v, width=160).split())
    assert out.startswith("PASSED") and "UNKNOWN:" not in out
    assert "valid is unknown: the scenario's SLOs accept lost coverage 25 %" in out
    assert "accepted: lost: could not check 3 of 4" in out
    assert "accepted by SLO: members unknown (3)" in out


def test_an_anomaly_with_short_coverage_is_failed_and_still_tells_what_was_not_judged() -> None:
    j = group_older_than_the_run()
    j.message("alice", "phone", "bob", "c9", skip=(("bob", "phone"),))
    j.audit_all()
    v = apply_slos(check(j.events), [])
    out = " ".join(render(v, width=160).split())
    assert out.startswith("FAILED lost") and "not everything could be judged: lost" in out
    assert "UNKNOWN: lost: could not check" in out


def test_an_older_verdict_says_coverage_not_recorded() -> None:
    v = clean_run()
    del v["coverage"], v["unknown"], v["outcome"]
    out = render(v)
    assert "PASSED" in out and "coverage not recorded" in out


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
    v = check(fully_judged().events)
    v.update({"errors": ["audit: bob/phone timed out"], "scenario": "default"})
    apply_slos(v, [Slo("latency_ms.e2e.p99", max=1, name="e2e p99")])  # as imload run does
    out = render(v)
    assert "audit: bob/phone timed out" in out
    assert "SLOs" in out and "e2e p99" in out and "NO" in out
    assert out.lstrip().startswith("ERROR")  # run errors: the run was not made as planned


def test_the_slo_table_is_the_scenarios_slos_and_one_line_for_every_anomaly() -> None:
    v = apply_slos(clean_run(), [Slo("latency_ms.ack.p99", max=1000, name="ack p99 1 s")])
    out = render(v, width=120)
    kinds = sum(1 for s in v["slo"] if s["default"] and s["figure"].startswith("anomalies."))
    table = out[out.index("SLOs"):out.index("implicit too")]
    assert "ack p99 1 s" in table and "every anomaly = 0" in table
    assert f"each of {kinds} kinds is 0" in table
    assert "lost = 0" not in out and "lost coverage" not in out
    held = sum(1 for s in v["slo"] if s["default"] and s["figure"].startswith("coverage."))
    assert f"implicit too: each check's coverage = 100 %: held by all {held}" in out


def test_the_implicit_anomaly_line_fails_naming_the_kinds() -> None:
    v = apply_slos(faulty_run(), [])
    table = " ".join(render(v, width=120).split())
    assert "SLOs" in table and "every anomaly = 0 0 1 NO broken by lost (1)" in table
    assert "lost = 0" not in table  # not a row, and not "slo lost = 0" in the banner
    assert table.startswith("FAILED lost not everything")


def test_the_first_cases_are_shown_with_their_events() -> None:
    j = two_friends()
    for i in range(5):
        j.message("alice", "phone", "bob", f"c{i}", skip=(("bob", "phone"),))
    j.send("alice", "phone", "i1", "bob")
    j.info("alice", "i1", reason="retry budget")
    j.audit_all()
    v = check(j.events)
    out = render(v, width=160)
    assert "evidence" in out and "lost #1:" in out and "lost #3:" in out
    assert "lost #4:" not in out and "lost: 2 more case(s) in verdict.json" in out
    assert "send_ok @" in out and "cmid=c0" in out
    assert "frames per message" in out and "indeterminate because: retry budget 1" in out
    assert "evidence" not in render(clean_run())


def test_what_the_target_does_not_promise_is_shown_as_a_finding_not_a_failure() -> None:
    j = two_friends()
    j.add("declare", numbering={"seq": "opaque", "useq": "contiguous"},
          promises=["phantom", "corrupted"])
    j.message("alice", "phone", "bob", "c1")
    j.message("alice", "phone", "bob", "c2", skip=(("bob", "phone"),))
    j.audit_all()
    v = apply_slos(check(j.events), [])
    assert v["outcome"] == "passed" and v["anomalies"]["lost"] == 1
    out = render(v)
    flat = " ".join(out.split())
    assert "PASSED" in out and "FAILED" not in out and "UNKNOWN" not in out
    assert "found, not promised: lost" in flat and "lost (not promised)" in flat
    assert "not promised by the target: seq declared opaque" in flat


def test_the_clocks_line_states_how_times_were_aligned() -> None:
    measured = {"sources": 3, "reference": "m-1", "method": "measured", "bound_s": 0.0004,
                "aligned": []}
    v = check(two_friends().events, timeline=measured)
    assert "clocks: 3 put on the master's, within ±0.4 ms (measured)" in render(v)
    v = check(two_friends().events, timeline={**measured, "method": "wall", "bound_s": None})
    assert "bound unknown" in " ".join(render(v).split())
    one = {"sources": 1, "reference": None, "method": "single", "bound_s": 0.0, "aligned": []}
    assert "clocks:" not in render(check(two_friends().events, timeline=one))
    assert "clocks:" not in render(clean_run())


def test_a_run_folder_with_its_report_says_where_to_look(tmp_path: Path) -> None:
    assert "report:" not in render(clean_run(), str(tmp_path))  # no report written yet
    (tmp_path / "report.html").write_text("<html></html>")
    out = render(clean_run(), str(tmp_path), width=200)
    assert f"report: {tmp_path / 'report.html'} (open it in a browser)" in out
    assert str(tmp_path / "verdict.json") in out
    assert "series as CSV" not in out  # none written
    (tmp_path / "series.csv").write_text("t_s\n")
    out = render(clean_run(), str(tmp_path), width=200)
    assert f"the per-second series as CSV: {tmp_path / 'series.csv'}" in out
