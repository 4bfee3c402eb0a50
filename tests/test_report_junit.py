"""junit.xml: valid against the JUnit schema CI systems read, one case per anomaly, coverage
line and SLO."""

import xml.etree.ElementTree as ET
from pathlib import Path

import xmlschema
from coverage_journals import fully_judged, group_older_than_the_run
from journal_builder import two_friends

from imload.check import check
from imload.report.junit import write_junit
from imload.slo import Slo, apply_slos

SCHEMA = xmlschema.XMLSchema(Path(__file__).parent / "data" / "junit.xsd")


def verdict(lost: int) -> dict:
    return {
        "valid": lost == 0, "passed": lost == 0,
        "anomalies": {"lost": lost, "duplicated": 0},
        "examples": {"lost": [{"explain": "m7 (a:c1) acked at 2.0 s never reached b/d0",
                               "events": [{"ev": "send_ok", "user": "a", "mid": "m7"}]}]
                     if lost else [], "duplicated": []},
        "slo": [{"name": "ack p99", "figure": "latency_ms.ack.p99", "limit": 100.0, "op": "max",
                 "value": 250.5, "passed": False},
                {"name": "lost = 0", "figure": "anomalies.lost", "limit": 0.0, "op": "max",
                 "value": lost, "passed": lost == 0}],
        "errors": [],
    }


def cases(path: Path) -> dict[str, ET.Element]:
    root = ET.parse(path).getroot()
    return {f"{c.get('classname')}.{c.get('name')}": c for c in root.iter("testcase")}


def test_a_lossy_run_fails_the_case_naming_the_anomaly(tmp_path: Path) -> None:
    out = tmp_path / "junit.xml"
    write_junit(out, verdict(lost=3), "imload.default", duration_s=61.5)
    SCHEMA.validate(out)
    got = cases(out)
    failure = got["anomalies.lost"].find("failure")
    assert failure is not None and failure.get("message", "").startswith("3 lost: m7 (a:c1)")
    assert "mid=m7" in (failure.text or "")
    assert got["anomalies.duplicated"].find("failure") is None
    slo = got["slo.ack p99"].find("failure")
    assert slo is not None and slo.get("message") == \
        "latency_ms.ack.p99 = 250.5, wanted <= 100.0"
    suite = ET.parse(out).getroot().find("testsuite")
    assert suite is not None
    # 2 anomalies, 2 SLOs, and coverage.recorded skipped: this verdict has no coverage
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors"),
            suite.get("skipped")) == ("5", "3", "0", "1")
    assert got["coverage.recorded"].find("skipped") is not None


def test_a_clean_run_is_all_green_and_run_errors_are_errors(tmp_path: Path) -> None:
    out = tmp_path / "junit.xml"
    v = verdict(lost=0)
    v["slo"][0]["passed"] = True
    v["errors"] = ["audit: u1/d0: <unreachable> & gone"]
    write_junit(out, v, "imload.clean")
    SCHEMA.validate(out)
    got = cases(out)
    assert all(c.find("failure") is None for c in got.values())
    err = got["run.error 1"].find("error")
    assert err is not None and err.get("message") == "audit: u1/d0: <unreachable> & gone"


def test_the_schema_rejects_what_ci_cannot_read(tmp_path: Path) -> None:
    bad = tmp_path / "bad.xml"
    bad.write_text('<testsuites><testsuite name="x"><testcase/></testsuite></testsuites>')
    assert not SCHEMA.is_valid(bad)


def properties(path: Path) -> dict[str, str]:
    root = ET.parse(path).getroot()
    return {p.get("name", ""): p.get("value", "") for p in root.iter("property")}


def test_short_coverage_is_a_failing_case_whose_message_is_the_sentence(tmp_path: Path) -> None:
    v = apply_slos(check(group_older_than_the_run().events), [])
    out = tmp_path / "junit.xml"
    write_junit(out, v, "imload.unknown")
    SCHEMA.validate(out)
    got = cases(out)
    lost = got["coverage.lost"].find("failure")
    sentence = next(s for s in v["unknown"] if s.startswith("lost: "))
    assert lost is not None and lost.get("type") == "unknown"
    assert lost.get("message") == sentence
    assert "members unknown (3): e.g. g:old:" in (lost.text or "")
    assert got["coverage.gap"].find("failure") is not None
    for kind in v["coverage"]:  # one case per line, each with its figure
        assert f"coverage.{kind}" in got
    out_text = got["coverage.lost"].find("system-out")
    assert out_text is not None and out_text.text == "1 / 4 acked messages judged: 25 %"
    assert got["coverage.duplicated"].find("failure") is None
    assert got["anomalies.lost"].find("failure") is None
    props = properties(out)
    assert props["imload.outcome"] == "UNKNOWN"
    assert props["coverage.lost.percent"] == "25" and props["coverage.lost.judged"] == "1/4"
    assert props["coverage.partial.percent"] == ""  # nothing to judge
    assert "run.valid" not in got  # something was checked


def test_accepted_coverage_passes_and_not_applicable_is_skipped(tmp_path: Path) -> None:
    v = apply_slos(check(group_older_than_the_run().events),
                   [Slo("coverage.lost.percent", min=20, name="lost 20 %"),
                    Slo("coverage.gap.percent", min=0, name="gap any")])
    v["coverage"]["order"].update(applicable=False, note="seqs declared opaque")
    out = tmp_path / "junit.xml"
    write_junit(out, v, "imload.accepted")
    SCHEMA.validate(out)
    got = cases(out)
    assert all(c.find("failure") is None for c in got.values())
    figure = got["coverage.lost"].find("system-out")
    assert figure is not None and figure.text == \
        "1 / 4 acked messages judged: 25 % (accepted by lost 20 %)"
    skipped = got["coverage.order"].find("skipped")
    assert skipped is not None and skipped.get("message") == "not applicable: seqs declared opaque"
    assert properties(out)["imload.outcome"] == "PASSED"


def test_nothing_checked_fails_run_valid(tmp_path: Path) -> None:
    v = apply_slos(check(two_friends().events), [])
    out = tmp_path / "junit.xml"
    write_junit(out, v, "imload.empty")
    SCHEMA.validate(out)
    failure = cases(out)["run.valid"].find("failure")
    assert failure is not None and failure.get("message") == \
        "nothing was acked and nothing delivered: the run proves nothing"
    clean = tmp_path / "clean.xml"
    write_junit(clean, apply_slos(check(fully_judged().events), []), "imload.clean")
    SCHEMA.validate(clean)
    assert all(c.find("failure") is None for c in cases(clean).values())


def test_the_implicit_slos_are_the_anomaly_and_coverage_cases_not_cases_of_their_own(
        tmp_path: Path) -> None:
    j = two_friends()
    j.message("alice", "phone", "bob", "c1")
    j.message("alice", "phone", "bob", "c2", skip=(("bob", "phone"),))
    j.audit_all()
    v = apply_slos(check(j.events), [Slo("latency_ms.ack.p99", max=60_000, name="ack p99")])
    assert {"lost = 0", "lost coverage = 100 %"} <= {s["name"] for s in v["slo"]}
    out = tmp_path / "junit.xml"
    write_junit(out, v, "imload.lossy")
    SCHEMA.validate(out)
    got = cases(out)
    # the scenario's SLO is a case; the implicit ones are not cases again
    assert [k for k in got if k.startswith("slo.")] == ["slo.ack p99"]
    assert {f"anomalies.{kind}" for kind in v["anomalies"]} <= set(got)
    assert {f"coverage.{kind}" for kind in v["coverage"]} <= set(got)
    # the broken promise fails once, with its evidence
    failed = [k for k, c in got.items() if c.find("failure") is not None]
    assert failed == ["anomalies.lost"]
    suite = ET.parse(out).getroot().find("testsuite")
    assert suite is not None and suite.get("failures") == "1"
    assert suite.get("tests") == str(len(v["anomalies"]) + len(v["coverage"]) + 1)
