"""The command line: help, argument errors and bad files give exit 2 and one clear line."""

import argparse
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from coverage_journals import ACCEPT_LESS, fully_judged, group_older_than_the_run
from journal_builder import two_friends

from imload.cli import COMMANDS, build_parser, main
from imload.journal import JournalWriter, body_digest, event
from imload.slo import EXIT_ERROR, EXIT_FAILED, EXIT_PASSED, EXIT_UNKNOWN

REPO = Path(__file__).resolve().parent.parent


def imload(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "imload", *args], capture_output=True, text=True,
                          cwd=REPO, timeout=60)


def test_help_lists_the_commands() -> None:
    done = imload("--help")
    assert done.returncode == 0
    for word in ("run", "verify", "cluster"):
        assert word in done.stdout


@pytest.mark.parametrize("args, words", [
    (["run"], "the following arguments are required"),
    (["run", "chaos/default.toml"], "--out"),
    (["frobnicate"], "invalid choice"),
    (["cluster", "up"], "--dir"),
    (["run", "chaos/default.toml", "--out", "x", "--time-scale", "0"], "must be > 0"),
    (["run", "chaos/default.toml", "--out", "x", "--users", "many"], "not a whole number"),
])
def test_argument_errors_exit_2_without_traceback(args: list[str], words: str) -> None:
    done = imload(*args)
    assert done.returncode == 2
    assert words in done.stderr
    assert "Traceback" not in done.stderr


def test_bad_scenario_exits_2_naming_the_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[load]\nusers = -3\n")
    done = imload("run", str(bad), "--out", str(tmp_path / "out"))
    assert done.returncode == 2
    assert "load.users" in done.stderr and "Traceback" not in done.stderr
    missing = imload("run", str(tmp_path / "nope.toml"), "--out", str(tmp_path / "out"))
    assert missing.returncode == 2 and "cannot read the scenario" in missing.stderr


def test_cluster_commands_on_a_folder_without_a_cluster(tmp_path: Path) -> None:
    done = imload("cluster", "status", "--dir", str(tmp_path))
    assert done.returncode == 2 and "Traceback" not in done.stderr


def _journal(folder: Path, delivered: bool) -> None:
    with JournalWriter(folder / "journal", "locust-test") as w:
        at = 1.0
        for dev in (("a", "d0"), ("b", "d0")):
            w.write(event("device", at, user=dev[0], device=dev[1]))
        w.write(event("send", 2.0, user="a", device="d0", session=1, cmid="c1", conv="d:a:b",
                      digest=body_digest("hi"), attempt=1, ts=0, seen_seq=0))
        w.write(event("send_ok", 2.1, user="a", device="d0", session=1, cmid="c1",
                      conv="d:a:b", mid="m1", seq=1, dup=False))
        receivers = [("a", "d0"), ("b", "d0")] if delivered else [("a", "d0")]
        for user, device in receivers:
            w.write(event("deliver", 2.2, user=user, device=device, session=1, mid="m1",
                          conv="d:a:b", seq=1, useq=1, cmid="c1", digest=body_digest("hi"),
                          via="push", phase="load", **{"from": "a", "from_device": "d0"}))
        for user in ("a", "b"):  # the audit synced both devices: everything can be judged
            w.write(event("audit", 3.0, user=user, device="d0", action="done", inbox_seq=1))


def test_verify_passes_a_clean_journal_and_fails_a_lossy_one(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture
                                                             ) -> None:
    _journal(tmp_path / "clean", delivered=True)
    _journal(tmp_path / "lossy", delivered=False)
    assert main(["verify", str(tmp_path / "clean"), "--json"]) == EXIT_PASSED
    verdict = orjson.loads(capsys.readouterr().out)
    assert verdict["passed"] is True and verdict["anomalies"]["lost"] == 0
    assert verdict["outcome"] == "passed"
    assert main(["verify", str(tmp_path / "lossy"), "--json"]) == EXIT_FAILED
    verdict = orjson.loads(capsys.readouterr().out)
    assert verdict["anomalies"]["lost"] == 1 and verdict["outcome"] == "failed"


def run_folder(folder: Path, events: list[dict], scenario: str | None = None) -> Path:
    """A run folder as ``imload run`` leaves it: journal/ and, if given, scenario.toml."""
    with JournalWriter(folder / "journal", "locust-test") as w:
        for e in events:
            w.write(e)
    if scenario is not None:
        (folder / "scenario.toml").write_text(scenario)
    return folder


ACCEPT = 'name = "accepts less"\n' + ACCEPT_LESS


def test_verify_of_what_cannot_be_judged_exits_3(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture) -> None:
    # A group older than the run: its members are unknown, so its three messages cannot be
    # judged lost or not. The checker's coverage says so (valid "unknown"); the default
    # SLOs apply without a scenario; exit 3, never 0.
    folder = run_folder(tmp_path / "run", group_older_than_the_run().events)
    assert main(["verify", str(folder), "--json"]) == EXIT_UNKNOWN
    verdict = orjson.loads(capsys.readouterr().out)
    assert verdict["valid"] == "unknown" and verdict["outcome"] == "unknown"
    assert verdict["passed"] is False and not any(verdict["anomalies"].values())
    assert "lost coverage = 100 %" in [s["name"] for s in verdict["slo"] if not s["passed"]]
    assert main(["verify", str(folder)]) == EXIT_UNKNOWN
    out = " ".join(capsys.readouterr().out.split())
    assert out.startswith("UNKNOWN") and "UNKNOWN: lost: could not check 3 of 4" in out
    report = (folder / "report.html").read_text()
    assert '<span class="badge">UNKNOWN</span>' in report and 'id="coverage"' in report
    # the per-second series beside it, and the console says where
    assert (folder / "series.csv").read_text().startswith("t_s,sent_per_s,")
    assert "the per-second series as CSV:" in out and "series.csv" in out


def test_verify_with_a_scenario_that_accepts_less_coverage_exits_0(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    folder = run_folder(tmp_path / "run", group_older_than_the_run().events, ACCEPT)
    assert main(["verify", str(folder), "--json"]) == EXIT_PASSED
    verdict = orjson.loads(capsys.readouterr().out)
    assert verdict["valid"] == "unknown" and verdict["outcome"] == "passed"
    assert "lost coverage = 100 %" not in [s["name"] for s in verdict["slo"]]


def test_verify_of_a_run_that_checked_nothing_exits_3(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture) -> None:
    j = two_friends()  # logged in; nothing sent
    j.audit_all()
    folder = run_folder(tmp_path / "run", j.events)
    assert main(["verify", str(folder)]) == EXIT_UNKNOWN
    assert "nothing was acked and nothing delivered" in capsys.readouterr().out


def test_verify_with_a_broken_scenario_still_applies_the_default_slos(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    folder = run_folder(tmp_path / "run", group_older_than_the_run().events, "[load\n")
    assert main(["verify", str(folder), "--json"]) == EXIT_UNKNOWN
    captured = capsys.readouterr()
    assert "ignoring the scenario's SLOs" in captured.err
    assert orjson.loads(captured.out)["outcome"] == "unknown"


def test_the_exit_codes_reach_the_shell(tmp_path: Path) -> None:
    unknown = run_folder(tmp_path / "unknown", group_older_than_the_run().events)
    clean = run_folder(tmp_path / "clean", fully_judged().events)
    assert imload("verify", str(unknown)).returncode == EXIT_UNKNOWN
    assert imload("verify", str(clean)).returncode == EXIT_PASSED
    assert imload("verify", str(tmp_path / "nothing")).returncode == EXIT_ERROR
    assert "3 unknown" in imload("run", "--help").stdout


def test_verify_of_a_folder_without_journal(tmp_path: Path) -> None:
    done = imload("verify", str(tmp_path))
    assert done.returncode == 2 and "no journal files" in done.stderr


def _command_paths(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
                   ) -> list[tuple[str, ...]]:
    """Every (sub)command under ``parser``: ``("run",)``, ``("journal", "stats")``, ..."""
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found += [(*path, name), *_command_paths(sub, (*path, name))]
    return found


@pytest.mark.parametrize("path", _command_paths(build_parser()), ids=" ".join)
def test_every_subcommand_has_a_help_that_exits_0(path: tuple[str, ...],
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main([*path, "--help"])
    assert done.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: imload {' '.join(path)}")


def test_every_command_in_the_table_is_in_the_help() -> None:
    names = {path[0] for path in _command_paths(build_parser())}
    assert names == {name for name, _add, _handler in COMMANDS}
    assert len(_command_paths(build_parser())) > len(COMMANDS)  # the nested ones count too
