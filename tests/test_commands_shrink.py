"""``imload shrink`` on bad input: one clear line and exit 2, never a traceback."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from imload.cli import main

SOME_LOAD = [{"ev": "device", "at": 5.0, "user": "r1u0", "device": "d0"},
             {"ev": "send", "at": 6.0, "user": "r1u0", "device": "d0", "cmid": "c",
              "conv": "d:r1u0:r1u1", "attempt": 1}]


def run_folder(tmp: Path, anomalies: dict[str, int] | None, journal: bool = True,
               scenario: bool = True) -> Path:
    d = tmp / "run"
    d.mkdir()
    if anomalies is not None:
        (d / "verdict.json").write_bytes(orjson.dumps({"anomalies": anomalies}))
    if scenario:
        (d / "scenario.toml").write_text('name = "x"\n[load]\nusers = 2\n')
    if journal:
        (d / "journal").mkdir()
        (d / "journal" / "run.jsonl").write_bytes(
            orjson.dumps({"ev": "phase", "at": 1.0, "phase": "load", "action": "start"}) + b"\n")
    return d


@pytest.mark.parametrize(("anomalies", "journal", "scenario", "says"), [
    (None, True, True, "no verdict.json"),
    ({"lost": 0, "gap": 0}, True, True, "no anomaly: nothing to shrink"),
    ({"lost": 3}, False, True, "no journal/ folder"),
    ({"lost": 3}, True, False, "cannot read the run's scenario"),
    ({"lost": 3}, True, True, "no devices"),
])
def test_a_folder_that_is_not_a_failed_run_is_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], anomalies: dict[str, int] | None,
        journal: bool, scenario: bool, says: str) -> None:
    d = run_folder(tmp_path, anomalies, journal, scenario)
    assert main(["shrink", str(d)]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert says in err and "Traceback" not in err
    assert not (d / "shrink" / "try-001").exists()  # nothing was run


@pytest.mark.parametrize(("args", "says"), [
    (["--kind", "nonsense"], "not an anomaly kind"),
    (["--kind", "gap"], "no 'gap' anomaly"),
    (["--tries", "1", "--min-fails", "2"], "more than --tries"),
    (["--target", "nowhere.toml"], "no such file"),
])
def test_bad_options_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                 args: list[str], says: str) -> None:
    d = run_folder(tmp_path, {"lost": 3, "gap": 0})
    assert main(["shrink", str(d), *args]) == 2
    assert says in " ".join(capsys.readouterr().err.split())


def test_a_bad_number_is_an_argument_error(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["shrink", str(tmp_path), "--tries", "0"])
    assert stop.value.code == 2
    assert "must be at least 1" in capsys.readouterr().err


def test_a_run_against_a_target_file_that_is_gone_asks_for_target(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = run_folder(tmp_path, {"lost": 3})
    (d / "scenario.toml").write_text('name = "x"\ntarget = "gone/target.toml"\n')
    (d / "journal" / "run.jsonl").write_bytes(b"".join(orjson.dumps(e) + b"\n"
                                                       for e in SOME_LOAD))
    assert main(["shrink", str(d)]) == 2
    assert "no such file (pass --target FILE)" in " ".join(capsys.readouterr().err.split())


def test_an_earlier_shrink_is_never_mixed_with_a_new_one(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = run_folder(tmp_path, {"lost": 3})
    (d / "journal" / "run.jsonl").write_bytes(b"".join(orjson.dumps(e) + b"\n"
                                                       for e in SOME_LOAD))
    (d / "shrink" / "try-001").mkdir(parents=True)
    assert main(["shrink", str(d)]) == 2
    assert "exists (an earlier shrink)" in " ".join(capsys.readouterr().err.split())


def test_a_missing_run_folder_is_refused(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["shrink", str(tmp_path / "nope")]) == 2
    assert "no such run folder" in capsys.readouterr().err

