"""Each anomaly kind's one-sentence meaning: one for every kind the checker has, in the same
words as docs/checker.md's table."""

from __future__ import annotations

import re
from pathlib import Path

from imload.check.verdict import CHECKS
from imload.report.definitions import DEFINITIONS, definition

DOC = Path(__file__).resolve().parent.parent / "docs" / "checker.md"


def doc_table() -> dict[str, str]:
    """``| [kind](#kind) | in one line |`` rows of docs/checker.md's "The anomalies"."""
    text = DOC.read_text(encoding="utf-8")
    return dict(re.findall(r"^\| \[(\w+)\]\(#\w+\) \| (.+?) \|$", text, flags=re.M))


def test_every_kind_the_checker_has_is_defined_in_the_words_of_the_docs() -> None:
    assert list(DEFINITIONS) == list(CHECKS)
    assert DEFINITIONS == doc_table()


def test_definition_is_a_sentence_and_empty_for_an_unknown_kind() -> None:
    assert definition("lost") == ("An acked message some expected device never got, not even "
                                  "in the audit.")
    assert definition("a-kind-from-a-newer-imload") == ""
