"""Delta debugging (Zeller and Hildebrandt's ddmin) over any list of parts.

``ddmin(parts, fails)`` returns a subset of ``parts`` (in their order) that still
``fails`` and from which no single chunk of the last granularity can be removed: split
into ``n`` chunks (first 2), keep a chunk that fails alone (back to 2 chunks), else drop a
chunk whose complement fails (``n - 1`` chunks), else split finer (``2 n``), until the
chunks are single parts. ``fails`` may raise ``Stop`` (the time budget is spent): the
smallest failing subset found so far is returned. Each subset is asked at most once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")


class Stop(Exception):  # noqa: N818 - a signal, not an error
    """Raised by a ``fails`` predicate to end the search (the budget is spent)."""


def chunks(parts: Sequence[T], n: int) -> list[list[T]]:
    """``parts`` cut into ``n`` chunks of nearly equal size, in order (none empty)."""
    if not parts:
        return []
    n = max(1, min(n, len(parts)))
    size, extra = divmod(len(parts), n)
    out, i = [], 0
    for k in range(n):
        j = i + size + (1 if k < extra else 0)
        out.append(list(parts[i:j]))
        i = j
    return out


def ddmin(parts: Sequence[T], fails: Callable[[list[T]], bool],
          try_empty: bool = False) -> list[T]:
    """The 1-minimal failing subset of ``parts`` (``parts`` is assumed to fail); with
    ``try_empty``, the empty subset is asked first (a fault list may need none)."""
    items = list(parts)
    current = list(range(len(items)))  # positions in ``parts``: equal parts stay apart
    seen: dict[tuple[int, ...], bool] = {}

    def ask(subset: list[int]) -> bool:
        key = tuple(subset)
        if key not in seen:
            seen[key] = fails([items[i] for i in subset])
        return seen[key]

    try:
        if try_empty and current and ask([]):
            return []
        n = 2
        while len(current) >= 2:
            cut = chunks(current, n)
            nxt = next((c for c in cut if ask(c)), None)
            if nxt is not None:
                current, n = nxt, 2
                continue
            if len(cut) > 2:
                comps = ([p for j, c in enumerate(cut) if j != i for p in c]
                         for i in range(len(cut)))
                nxt = next((c for c in comps if ask(c)), None)
                if nxt is not None:
                    current, n = nxt, max(n - 1, 2)
                    continue
            if n >= len(current):
                break
            n = min(len(current), 2 * n)
    except Stop:
        pass
    return [items[i] for i in current]
