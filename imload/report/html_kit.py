"""The HTML report's small pieces: escaping, number formats, sections, tables, pills.

Shared by ``html`` (the page) and ``coverage`` (its coverage section and the
UNKNOWN callout). Every function returns HTML; text from a verdict is escaped here.
"""

from __future__ import annotations

from collections.abc import Iterable
from html import escape
from typing import Any


def esc(value: Any) -> str:
    return escape(str(value))


def ms(value: Any) -> str:
    if not isinstance(value, int | float):
        return "–"
    return f"{value:.2f}" if value < 10 else f"{value:,.1f}"


def num(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return esc("–" if value is None else value)
    return f"{value:,}" if isinstance(value, int) else f"{value:,.4g}"


def pct(value: Any) -> str:
    """A fraction (0..1) as a percentage."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "–"
    return f"{value * 100:.3g} %"


def secs(value: Any) -> str:
    return f"{value:.1f} s" if isinstance(value, int | float) else "–"


def section(ident: str, title: str, inner: str, note: str = "", cls: str = "") -> str:
    note_html = f'<p class="note">{note}</p>' if note else ""
    klass = f' class="{cls}"' if cls else ""
    return (f'<section id="{ident}"{klass}><h2>{escape(title)}</h2>{note_html}\n{inner}\n'
            "</section>")


def table(head: Iterable[tuple[str, bool]], rows: Iterable[Iterable[str]],
          row_classes: Iterable[str] | None = None) -> str:
    """Cells are HTML already; ``head`` is (label, numeric); ``row_classes`` one per row."""
    heads = list(head)
    ths = "".join(f'<th class="n">{escape(h)}</th>' if n else f"<th>{escape(h)}</th>"
                  for h, n in heads)
    classes = iter(row_classes or ())
    trs = []
    for row in rows:
        tds = "".join(f'<td class="n">{c}</td>' if n else f"<td>{c}</td>"
                      for c, (_, n) in zip(row, heads, strict=False))
        klass = next(classes, "")
        trs.append(f'<tr class="{klass}">{tds}</tr>' if klass else f"<tr>{tds}</tr>")
    return f"<table><thead><tr>{ths}</tr></thead><tbody>{''.join(trs)}</tbody></table>"


def pill(ok: bool, yes: str = "passed", no: str = "FAILED", bad: str = "bad") -> str:
    return f'<span class="pill ok">{yes}</span>' if ok else \
        f'<span class="pill {bad}">{no}</span>'
