"""The docs point at files that exist: every relative Markdown link in README.md and docs/
resolves, every ``*.md`` path they name exists (from the repository root, or from the
naming file's folder), and docs/README.md links every page of docs/."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PAGES = sorted([REPO / "README.md", *(REPO / "docs").rglob("*.md")])
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
MD_PATH = re.compile(r"(?<![\w/.:-])((?:\.\./|\./)?[\w-]+(?:/[\w.-]+)*\.md)\b")


def _exists(page: Path, name: str) -> bool:
    return (page.parent / name).exists() or (REPO / name).exists()


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_link_and_md_path_resolves(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    missing = []
    for target in LINK.findall(text):
        if re.match(r"^[a-z]+:|^#", target):  # a URL or an anchor on the page
            continue
        if not (page.parent / target.split("#", 1)[0]).exists():
            missing.append(f"link {target}")
    missing += [f"path {name}" for name in set(MD_PATH.findall(text))
                if not _exists(page, name)]
    assert not missing, f"{page.relative_to(REPO)} names what does not exist: {missing}"


def test_the_docs_index_links_every_page() -> None:
    index = REPO / "docs" / "README.md"
    linked = {(index.parent / t.split("#", 1)[0]).resolve()
              for t in LINK.findall(index.read_text(encoding="utf-8"))}
    pages = {p.resolve() for p in (REPO / "docs").rglob("*.md") if p != index}
    unlinked = sorted(str(p.relative_to(REPO)) for p in pages - linked)
    assert not unlinked, f"docs/README.md does not link {unlinked}"


def test_a_missing_path_is_found(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("See docs/nope.md, docs/chaos.md and [x](gone.md).")
    assert sorted(n for n in MD_PATH.findall(page.read_text()) if not _exists(page, n)) == [
        "docs/nope.md", "gone.md"]
    assert LINK.findall(page.read_text()) == ["gone.md"]
