"""Which journal folders ``imload verify RUN [SHARD...]`` reads (imload/journal/shards.py)."""

from pathlib import Path

import pytest

from imload.journal import JournalError
from imload.journal.shards import journal_folders


def run_folder(path: Path) -> Path:
    (path / "journal").mkdir(parents=True)
    return path


def journal_folder(path: Path) -> Path:
    path.mkdir(parents=True)
    return path


def test_a_run_folder_is_read_through_its_journal_folder(tmp_path: Path) -> None:
    run = run_folder(tmp_path / "run")
    assert journal_folders([run]) == (run, [run / "journal"])


def test_a_journal_folder_is_read_as_it_is(tmp_path: Path) -> None:
    folder = journal_folder(tmp_path / "j")
    assert journal_folders([str(folder)]) == (folder, [folder])


def test_the_run_comes_first_then_the_shards_in_the_order_named(tmp_path: Path) -> None:
    run = run_folder(tmp_path / "run")
    b = run_folder(tmp_path / "shards" / "b")  # a worker's run folder
    a = journal_folder(tmp_path / "shards" / "a")  # a worker's bare journal folder
    first, folders = journal_folders([run, b, a])
    assert first == run
    assert folders == [run / "journal", b / "journal", a]


def test_a_quoted_glob_is_expanded_in_name_order(tmp_path: Path) -> None:
    run = run_folder(tmp_path / "run")
    c = journal_folder(tmp_path / "shards" / "host-c")
    a = run_folder(tmp_path / "shards" / "host-a")
    b = journal_folder(tmp_path / "shards" / "host-b")
    first, folders = journal_folders([run, str(tmp_path / "shards" / "host-*")])
    assert first == run
    assert folders == [run / "journal", a / "journal", b, c]


def test_a_glob_can_name_the_run_itself(tmp_path: Path) -> None:
    run = run_folder(tmp_path / "runs" / "r1")
    first, folders = journal_folders([str(tmp_path / "runs" / "r?")])
    assert (first, folders) == (run, [run / "journal"])


def test_a_glob_matching_nothing_is_an_error(tmp_path: Path) -> None:
    run = run_folder(tmp_path / "run")
    pattern = str(tmp_path / "shards" / "*")
    with pytest.raises(JournalError, match=r"no folder matches .*shards/\*"):
        journal_folders([run, pattern])


def test_a_missing_folder_is_an_error(tmp_path: Path) -> None:
    run = run_folder(tmp_path / "run")
    with pytest.raises(JournalError, match=r"no journal folder at .*nope"):
        journal_folders([run, tmp_path / "nope"])
    with pytest.raises(JournalError, match="no journal folder at"):
        journal_folders([tmp_path / "nope"])


def test_a_file_is_not_a_folder(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_text("")
    with pytest.raises(JournalError, match="no journal folder at"):
        journal_folders([tmp_path / "a.jsonl"])


def test_nothing_named_is_an_error() -> None:
    with pytest.raises(JournalError, match="no run folder given"):
        journal_folders([])


@pytest.mark.parametrize("second", ["same", "its journal", "spelled otherwise", "by a glob"])
def test_a_folder_named_twice_is_an_error(tmp_path: Path, second: str) -> None:
    run = run_folder(tmp_path / "run")
    again = {"same": str(run), "its journal": str(run / "journal"),
             "spelled otherwise": str(tmp_path / "run" / ".." / "run"),
             "by a glob": str(tmp_path / "ru?")}[second]
    with pytest.raises(JournalError, match="named twice"):
        journal_folders([run, again])
