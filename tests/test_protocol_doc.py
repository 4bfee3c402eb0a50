"""docs/protocol.md against the code: every request, reply, push, field, op kind, error
code, close code and bug mode the code has is in the doc, and the doc names no request
type or op kind the code lacks."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from imload.protocol import (
    CLOSE_CODES,
    ERROR_CODES,
    OP_ARGS,
    PUSH_TYPES,
    REPLY_TYPES,
    REQUEST_FIELDS,
)
from reference_server.bugs import BUGS
from reference_server.config import build_parser

DOC = Path(__file__).resolve().parents[1] / "docs" / "protocol.md"
TEXT = DOC.read_text(encoding="utf-8")


def section(title: str) -> str:
    """The text of the ``## title`` section."""
    found = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", TEXT, re.S | re.M)
    assert found, f"docs/protocol.md has no section '## {title}'"
    return found.group(1)


def table_rows(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("| `")]


def doc_requests() -> dict[str, str]:
    """request type -> its row, from the requests table."""
    rows = table_rows(section("Requests and replies").split("### Ops", 1)[0])
    return {re.match(r"\| `(\w+)", row).group(1): row for row in rows  # type: ignore[union-attr]
            if " | " in row and row.count("|") == 4}


def test_every_request_of_the_codec_is_documented_with_its_fields() -> None:
    rows = doc_requests()
    assert set(rows) == set(REQUEST_FIELDS), "requests in the doc differ from REQUEST_FIELDS"
    for t, fields in REQUEST_FIELDS.items():
        head = re.match(rf"\| `{t} \{{([^}}]*)\}}`", rows[t])
        assert head, f"{t}: the row must start with `{t} {{fields}}`"
        named = {f.strip().rstrip("?") for f in head.group(1).split(",") if f.strip()}
        expected = set(fields) | (set() if t == "ack" else {"rid"})
        assert named == expected, f"{t}: doc {sorted(named)} vs code {sorted(expected)}"


def test_every_reply_is_documented_next_to_its_request() -> None:
    rows = doc_requests()
    for t, reply in REPLY_TYPES.items():
        assert f"`{reply} {{rid" in rows[t], f"{t}: reply {reply} not in its row"
    assert "| none |" in rows["ack"]


@pytest.mark.parametrize("push", PUSH_TYPES)
def test_every_push_is_documented(push: str) -> None:
    assert re.search(rf"^\| `{push} \{{", section("Pushes"), re.M), push


def test_op_kinds_match_the_codec() -> None:
    rows = table_rows(section("Requests and replies").split("### Ops", 1)[1])
    kinds = {re.match(r"\| `(\w+)`", r).group(1) for r in rows}  # type: ignore[union-attr]
    assert kinds == set(OP_ARGS)
    for kind, args in OP_ARGS.items():
        row = next(r for r in rows if r.startswith(f"| `{kind}`"))
        for arg in args:
            assert f"`{arg}`" in row, f"op {kind}: arg {arg} not documented"


def test_error_and_close_codes_match_the_codec() -> None:
    text = section("Errors and closes")
    errors = {m for m in re.findall(r"^\| `(\w+)` \|", text, re.M)}
    assert errors == set(ERROR_CODES)
    closes = {int(m) for m in re.findall(r"^\| (\d{4}) \|", text, re.M)}
    assert closes == set(CLOSE_CODES)


def test_bug_modes_match_the_registry() -> None:
    modes = set(re.findall(r"^\| `([a-z-]+)` \|", section("Bug modes"), re.M))
    assert modes == set(BUGS)


def test_every_node_flag_is_documented() -> None:
    text = section("Running a node and the LBS by hand")
    flags = {opt for action in build_parser()._actions for opt in action.option_strings
             if opt.startswith("--") and opt != "--help"}
    missing = sorted(f for f in flags if f"`{f}`" not in text)
    assert not missing, f"node flags missing from the doc: {missing}"


def test_the_doc_names_no_frame_type_the_code_lacks() -> None:
    known = (set(REQUEST_FIELDS) | set(REPLY_TYPES.values()) | set(PUSH_TYPES)
             | set(OP_ARGS))
    for title in ("Requests and replies", "Pushes"):
        for name in re.findall(r"`([a-z_]+) \{", section(title)):
            assert name in known, f"the doc names {name!r}, which the code lacks"
