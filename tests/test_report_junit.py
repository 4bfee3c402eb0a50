"""junit.xml: valid against the JUnit schema CI systems read, one case per anomaly and SLO."""

import xml.etree.ElementTree as ET
from pathlib import Path

import xmlschema

from imload.report.junit import write_junit

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
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("4", "3", "0")


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
