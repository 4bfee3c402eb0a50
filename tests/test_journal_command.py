"""``imload journal stats|print|convert`` (imload/journal/command.py, imload/cli.py) on a small
real journal in both forms."""

import io
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest
from journal_builder import JournalBuilder

from imload.cli import main
from imload.journal import JournalError, JournalWriter
from imload.journal.columnar import ColumnarJournalWriter
from imload.journal.command import convert, journal_paths, print_events, stats, stem

ROOT = Path(__file__).resolve().parents[1]


def small_journal() -> list[dict[str, Any]]:
    j = JournalBuilder(start=10.0, tick=0.25)
    j.add("phase", phase="load", action="start")
    for u in ("a", "b"):
        j.device(u, "d0")
    for i in range(3):
        j.message("a", "d0", "b", f"a{i}")
    j.message("b", "d0", "a", "b0")
    j.add("fault", action="start", kind="latency", target="n1", fault="f1",
          detail={"ms": 200, "jitter": [1, 2.5]})
    j.add("phase", phase="load", action="end")
    return j.events


def split(events: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """The events as two processes would write them: a's devices and the run's own."""
    files: dict[str, list[dict[str, Any]]] = {"locust-a": [], "locust-b": []}
    for e in events:
        files["locust-b" if e.get("user") == "b" else "locust-a"].append(e)
    return files


def write_jsonl(folder: Path, events: list[dict[str, Any]]) -> Path:
    for name, part in split(events).items():
        with JournalWriter(folder, name) as w:
            for e in part:
                w.write(e)
    return folder


def write_columnar(folder: Path, events: list[dict[str, Any]]) -> Path:
    for name, part in split(events).items():
        with ColumnarJournalWriter(folder, name, flush_every=3) as w:
            for e in part:
                w.write(e)
    return folder


@pytest.fixture
def events() -> list[dict[str, Any]]:
    return small_journal()


def run(fn: Any, *args: Any, **kw: Any) -> str:
    out = io.StringIO()
    assert fn(*args, out=out, **kw) == 0
    return out.getvalue()


# -- which files --------------------------------------------------------------------------

def test_paths_are_run_folders_journal_folders_or_files(tmp_path: Path, events: list) -> None:
    write_jsonl(tmp_path / "run" / "journal", events)
    write_columnar(tmp_path / "col", events)
    (tmp_path / "col" / "notes.txt").write_text("not a journal")
    a, b = tmp_path / "run" / "journal" / "locust-a.jsonl", tmp_path / "col" / "locust-b.arrows.zst"
    assert journal_paths([tmp_path / "run"]) == [a, a.with_name("locust-b.jsonl")]
    assert journal_paths([tmp_path / "col", a]) == [
        tmp_path / "col" / "locust-a.arrows.zst", b, a]
    assert [stem(p) for p in (a, b)] == ["locust-a", "locust-b"]
    with pytest.raises(JournalError, match="not a journal file"):
        journal_paths([tmp_path / "col" / "notes.txt"])
    with pytest.raises(JournalError, match="no journal file or folder at"):
        journal_paths([tmp_path / "nope"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(JournalError, match="no journal files"):
        journal_paths([tmp_path / "empty"])


# -- stats ----------------------------------------------------------------------------------

@pytest.mark.parametrize("write", [write_jsonl, write_columnar])
def test_stats_counts_files_events_and_kinds(tmp_path: Path, events: list, write: Any) -> None:
    folder = write(tmp_path / "j", events)
    text = run(stats, [folder])
    lines = text.splitlines()
    files = sorted(p for p in folder.iterdir())
    size = sum(p.stat().st_size for p in files)
    parts = split(events)
    assert lines[0].startswith(f"{files[0]}: {len(parts['locust-a'])} events, "
                               f"{files[0].stat().st_size:,} bytes (")
    assert lines[1].startswith(f"{files[1]}: {len(parts['locust-b'])} events, ")
    acked = sum(e["ev"] == "send_ok" for e in events)
    assert acked == 4
    assert lines[2] == (f"total: 2 files, {len(events)} events, {size:,} bytes; "
                        f"{size / len(events):,.1f} B per event, "
                        f"{size / acked:,.1f} B per acked message")
    kinds = Counter(e["ev"] for e in events)
    listed = {line.split()[0]: int(line.split()[1]) for line in lines[3:]}
    assert listed == kinds
    counts = [int(line.split()[1]) for line in lines[3:]]
    assert counts == sorted(counts, reverse=True)  # most frequent first


def test_stats_names_a_torn_file_and_keeps_its_whole_part(tmp_path: Path,
                                                          events: list) -> None:
    folder = write_columnar(tmp_path / "j", events)
    path = folder / "locust-a.arrows.zst"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 40])
    text = run(stats, [folder])
    assert "unreadable: locust-a.arrows.zst: cut short after" in text
    assert text.splitlines()[1].startswith(f"{folder / 'locust-b.arrows.zst'}: "
                                           f"{len(split(events)['locust-b'])} events")


# -- print ----------------------------------------------------------------------------------

@pytest.mark.parametrize("write", [write_jsonl, write_columnar])
def test_print_merges_the_files_in_time_order(tmp_path: Path, events: list, write: Any) -> None:
    folder = write(tmp_path / "j", events)
    lines = run(print_events, [folder]).splitlines()
    assert [orjson.loads(line) for line in lines] == events
    assert lines == [orjson.dumps(e).decode() for e in events]  # key order too
    only = [orjson.loads(line) for line in run(print_events, [folder],
                                               kinds=["send_ok", "fault"]).splitlines()]
    assert only == [e for e in events if e["ev"] in ("send_ok", "fault")]
    assert run(print_events, [folder], limit=3).splitlines() == lines[:3]


def test_print_is_the_same_for_both_forms(tmp_path: Path, events: list) -> None:
    a = run(print_events, [write_jsonl(tmp_path / "a", events)])
    b = run(print_events, [write_columnar(tmp_path / "b", events)])
    assert a == b and a.count("\n") == len(events)


# -- convert --------------------------------------------------------------------------------

def test_convert_there_and_back_gives_the_same_bytes(tmp_path: Path, events: list) -> None:
    events.append({"ev": "newer", "at": 99.0, "seq": "not an int", "zz": [1, {"x": None}]})
    events.append({"at": 99.5, "ev": "device", "device": "d", "user": "u", "extra": 1,
                   "a,b": True, "raw": 1.0})
    src = write_jsonl(tmp_path / "run" / "journal", events)
    text = run(convert, [tmp_path / "run"], tmp_path / "col", "columnar")
    lines = text.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(f"{src / 'locust-a.jsonl'} -> "
                               f"{tmp_path / 'col' / 'locust-a.arrows.zst'}: "
                               f"{len(split(events)['locust-a'])} events, ")
    assert sorted(p.name for p in (tmp_path / "col").iterdir()) == [
        "locust-a.arrows.zst", "locust-b.arrows.zst"]
    run(convert, [tmp_path / "col"], tmp_path / "back", "jsonl")
    for name in ("locust-a", "locust-b"):  # the same events, key order and number types
        assert (tmp_path / "back" / f"{name}.jsonl").read_bytes() == \
            (src / f"{name}.jsonl").read_bytes()


def test_convert_refuses_an_existing_destination_before_writing(tmp_path: Path,
                                                               events: list) -> None:
    src = write_jsonl(tmp_path / "j", events)
    out = tmp_path / "out"
    out.mkdir()
    (out / "locust-b.arrows.zst").write_bytes(b"mine")
    with pytest.raises(JournalError, match="locust-b.arrows.zst exists already"):
        convert([src], out, "columnar", io.StringIO())
    assert sorted(p.name for p in out.iterdir()) == ["locust-b.arrows.zst"]
    assert (out / "locust-b.arrows.zst").read_bytes() == b"mine"


def test_convert_refuses_to_put_both_forms_of_a_file_in_one_folder(tmp_path: Path,
                                                                   events: list) -> None:
    src = write_jsonl(tmp_path / "j", events)
    with pytest.raises(JournalError, match="locust-a.jsonl exists already"):
        convert([src], src, "columnar", io.StringIO())  # in place: read twice, counted twice
    assert sorted(p.name for p in src.iterdir()) == ["locust-a.jsonl", "locust-b.jsonl"]


def test_convert_refuses_two_inputs_of_one_name(tmp_path: Path, events: list) -> None:
    a = write_jsonl(tmp_path / "a", events)
    b = write_columnar(tmp_path / "b", events)
    with pytest.raises(JournalError, match="same name"):
        convert([a / "locust-a.jsonl", b / "locust-a.arrows.zst"], tmp_path / "out",
                "jsonl", io.StringIO())
    assert not (tmp_path / "out").exists()


def test_convert_refuses_an_unknown_form(tmp_path: Path, events: list) -> None:
    with pytest.raises(JournalError, match="unknown journal format 'csv': one of columnar, jsonl"):
        convert([write_jsonl(tmp_path / "a", events)], tmp_path / "out", "csv", io.StringIO())


def test_convert_skips_what_it_cannot_read_and_says_so(tmp_path: Path, events: list) -> None:
    src = write_jsonl(tmp_path / "j", events)
    with open(src / "locust-b.jsonl", "ab") as f:
        f.write(b'{"ev": "dev')  # torn by a kill
    text = run(convert, [src], tmp_path / "out", "columnar")
    assert "(1 unreadable parts skipped: locust-b.jsonl:" in text


# -- the command line -----------------------------------------------------------------------

def imload(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "imload", "journal", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def test_cli_stats_print_convert(tmp_path: Path, events: list) -> None:
    src = write_jsonl(tmp_path / "run" / "journal", events)
    done = imload("convert", str(tmp_path / "run"), "--out", str(tmp_path / "col"))
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.splitlines()) == 2 and done.stderr == ""
    done = imload("print", str(tmp_path / "col"), "--kind", "deliver", "--limit", "2")
    assert done.returncode == 0, done.stderr
    assert [orjson.loads(x) for x in done.stdout.splitlines()] == [
        e for e in events if e["ev"] == "deliver"][:2]
    done = imload("stats", str(tmp_path / "col"), str(src / "locust-a.jsonl"))
    assert done.returncode == 0, done.stderr
    assert f"total: 3 files, {len(events) + len(split(events)['locust-a'])} events" \
        in done.stdout


def test_cli_missing_path_is_one_clear_line(tmp_path: Path) -> None:
    missing = tmp_path / ("a-rather-long-folder-name-" * 4) / "nope"
    for action in (["stats"], ["print"], ["convert", "--out", str(tmp_path / "o")]):
        done = imload(action[0], str(missing), *action[1:])
        assert done.returncode == 2
        assert done.stdout == ""
        assert done.stderr == f"imload journal {action[0]}: no journal file or folder " \
                              f"at {missing}\n"


def test_cli_usage_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["journal"], ["journal", "stats"], ["journal", "print", ".", "--limit", "0"],
                 ["journal", "convert", "."], ["journal", "convert", ".", "--out", "o",
                                                "--to", "csv"]):
        with pytest.raises(SystemExit) as caught:
            main(argv)
        assert caught.value.code == 2, argv
        err = capsys.readouterr().err
        assert "error:" in err and "Traceback" not in err


def test_cli_main_returns_the_exit_code(tmp_path: Path, events: list,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    folder = write_columnar(tmp_path / "j", events)
    assert main(["journal", "print", str(folder), "--limit", "1"]) == 0
    assert orjson.loads(capsys.readouterr().out) == events[0]
    assert main(["journal", "stats", str(tmp_path / "nope")]) == 2
    assert "no journal file or folder" in capsys.readouterr().err
