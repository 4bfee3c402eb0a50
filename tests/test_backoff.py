"""Backoff policies: each formula stays inside its bounds, Retry-After is a floor."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from imload.client import POLICIES, Backoff, with_floor

BASE = st.floats(0.001, 10.0)
N = st.integers(0, 200)


@given(base=BASE, cap=st.floats(0.0, 60.0), n=N, seed=st.integers(0, 2**32))
def test_every_policy_stays_within_zero_and_cap(base: float, cap: float, n: int,
                                                seed: int) -> None:
    for policy in POLICIES:
        b = Backoff(policy, base, cap)
        d = b.delay(n, None, random.Random(seed))
        assert 0.0 <= d <= max(cap, 0.0) + 1e-9, (policy, d)


@given(base=BASE, cap=st.floats(0.0, 60.0), n=N, seed=st.integers(0, 2**32))
def test_formulas(base: float, cap: float, n: int, seed: int) -> None:
    ceiling = min(cap, base * 2.0 ** min(n, 60))
    rng = random.Random(seed)
    assert Backoff("none", base, cap).delay(n, None, rng) == 0.0
    assert Backoff("fixed", base, cap).delay(n, None, rng) == min(base, cap)
    assert Backoff("exponential", base, cap).delay(n, None, rng) == pytest.approx(ceiling)
    assert 0.0 <= Backoff("full_jitter", base, cap).delay(n, None, rng) <= ceiling
    eq = Backoff("equal_jitter", base, cap).delay(n, None, rng)
    assert ceiling / 2 - 1e-9 <= eq <= ceiling + 1e-9


@given(base=BASE, cap=st.floats(0.0, 60.0), prev=st.one_of(st.none(), st.floats(0.0, 100.0)),
       seed=st.integers(0, 2**32))
def test_decorrelated_is_between_base_and_three_prev_capped(base: float, cap: float,
                                                            prev: float | None,
                                                            seed: int) -> None:
    d = Backoff("decorrelated", base, cap).delay(0, prev, random.Random(seed))
    last = base if prev is None else max(prev, base)
    assert d <= cap + 1e-9
    assert d >= min(cap, base) - 1e-9
    assert d <= 3 * last + 1e-9


def test_exponential_doubles_until_the_cap() -> None:
    b = Backoff("exponential", 0.2, 5.0)
    assert [b.delay(n, None, random.Random(0)) for n in range(7)] == pytest.approx(
        [0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0])


def test_full_jitter_spreads_over_the_whole_window() -> None:
    b = Backoff()  # the default: full_jitter, 0.2 s, cap 5 s
    assert (b.policy, b.base_s, b.cap_s) == ("full_jitter", 0.2, 5.0)
    rng = random.Random(7)
    ds = [b.delay(10, None, rng) for _ in range(2000)]
    assert min(ds) < 0.25 and max(ds) > 4.75  # uniform over [0, 5]


def test_decorrelated_grows_from_its_previous_delay() -> None:
    b, rng = Backoff("decorrelated", 0.2, 100.0), random.Random(3)
    prev = None
    seen = []
    for _ in range(30):
        prev = b.delay(0, prev, rng)
        seen.append(prev)
    assert max(seen) > 2.0  # it walks upward, unlike full jitter at n = 0


def test_same_seed_same_delays() -> None:
    for policy in POLICIES:
        b = Backoff(policy, 0.5, 9.0)
        a = [b.delay(n, 1.0, random.Random(42)) for n in range(10)]
        assert a == [b.delay(n, 1.0, random.Random(42)) for n in range(10)]


def test_retry_after_is_a_floor() -> None:
    assert with_floor(0.3, 2000) == 2.0
    assert with_floor(3.0, 2000) == 3.0
    assert with_floor(0.3, None) == 0.3
    assert with_floor(0.3, 0) == 0.3


def test_bad_settings_are_refused_with_the_choices() -> None:
    with pytest.raises(ValueError, match="full_jitter"):
        Backoff("linear")
    with pytest.raises(ValueError):
        Backoff("fixed", -1.0)
