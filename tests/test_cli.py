"""The command line: help, argument errors and bad files give exit 2 and one clear line."""

import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from imload.cli import main
from imload.journal import JournalWriter, body_digest, event

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
    assert missing.returncode == 2 and "cannot read scenario" in missing.stderr


def test_cluster_commands_on_a_folder_without_a_cluster(tmp_path: Path) -> None:
    done = imload("cluster", "status", "--dir", str(tmp_path))
    assert done.returncode == 2 and "Traceback" not in done.stderr


def _journal(folder: Path, delivered: bool) -> None:
    with JournalWriter(folder / "journal", "locust-test") as w:
        at = 1.0
        for dev in (("a", "d0"), ("b", "d0")):
            w.write(event("device", at, user=dev[0], device=dev[1]))
        w.write(event("send", 2.0, user="a", device="d0", session=1, cmid="c1", conv="d:a:b",
                      digest=body_digest("hi"), attempt=1, ts=0))
        w.write(event("send_ok", 2.1, user="a", device="d0", session=1, cmid="c1",
                      conv="d:a:b", mid="m1", seq=1, dup=False))
        receivers = [("a", "d0"), ("b", "d0")] if delivered else [("a", "d0")]
        for user, device in receivers:
            w.write(event("deliver", 2.2, user=user, device=device, session=1, mid="m1",
                          conv="d:a:b", seq=1, useq=1, cmid="c1", digest=body_digest("hi"),
                          via="push", phase="load", **{"from": "a", "from_device": "d0"}))


def test_verify_passes_a_clean_journal_and_fails_a_lossy_one(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture
                                                             ) -> None:
    _journal(tmp_path / "clean", delivered=True)
    _journal(tmp_path / "lossy", delivered=False)
    assert main(["verify", str(tmp_path / "clean"), "--json"]) == 0
    verdict = orjson.loads(capsys.readouterr().out)
    assert verdict["passed"] is True and verdict["anomalies"]["lost"] == 0
    assert main(["verify", str(tmp_path / "lossy"), "--json"]) == 1
    verdict = orjson.loads(capsys.readouterr().out)
    assert verdict["anomalies"]["lost"] == 1


def test_verify_of_a_folder_without_journal(tmp_path: Path) -> None:
    done = imload("verify", str(tmp_path))
    assert done.returncode == 2 and "no journal files" in done.stderr
