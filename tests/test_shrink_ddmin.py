"""ddmin: the 1-minimal failing subset, each subset asked once, stopped by the budget."""

from __future__ import annotations

import pytest

from imload.shrink.ddmin import Stop, chunks, ddmin


def test_chunks_cut_in_order_nearly_equal_and_never_empty() -> None:
    assert chunks(list(range(7)), 3) == [[0, 1, 2], [3, 4], [5, 6]]
    assert chunks([1, 2], 5) == [[1], [2]]
    assert chunks([], 2) == []


@pytest.mark.parametrize("culprits", [{13}, {3, 71}, {0, 50, 99}])
def test_ddmin_finds_exactly_the_parts_the_failure_needs(culprits: set[int]) -> None:
    asked: list[tuple[int, ...]] = []

    def fails(sub: list[int]) -> bool:
        asked.append(tuple(sub))
        return culprits <= set(sub)

    assert ddmin(list(range(100)), fails) == sorted(culprits)
    assert len(asked) == len(set(asked))  # never the same subset twice
    assert len(asked) < 60 * len(culprits)


def test_equal_parts_stay_apart() -> None:
    # two equal parts: both needed (a count), not one found twice
    assert ddmin(["a", "b", "a"], lambda sub: sub.count("a") == 2) == ["a", "a"]


def test_try_empty_asks_the_empty_set_first() -> None:
    asked: list[list[str]] = []
    assert ddmin(["f1", "f2"], lambda sub: asked.append(sub) or True, try_empty=True) == []
    assert asked == [[]]
    # without it the empty set is never asked: one part is always kept
    assert len(ddmin(["f1", "f2"], lambda sub: True)) == 1


def test_stop_returns_the_smallest_failing_subset_so_far() -> None:
    calls = 0

    def fails(sub: list[int]) -> bool:
        nonlocal calls
        calls += 1
        if calls > 3:
            raise Stop
        return 5 in sub

    got = ddmin(list(range(16)), fails)
    assert 5 in got and len(got) < 16
    assert calls == 4
