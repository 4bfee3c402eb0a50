import random

import pytest

from imload.client.config import EngineConfig


def test_retry_after_internal_spreads_the_budget_over_a_store_outage() -> None:
    cfg, rng = EngineConfig(), random.Random(3)
    for attempts, (lo, hi) in enumerate([(0.5, 1), (1, 2), (2, 4), (4, 8)], start=1):
        for _ in range(200):
            assert lo <= cfg.retry_delay(attempts, rng) <= hi
    # the four waits between five attempts add up to at least 7.5 s
    assert sum(cfg.retry_delay(n, rng) for n in range(1, 5)) >= 7.5
    assert EngineConfig(retry_cap_s=3).retry_delay(10, rng) <= 3


def test_bad_config_is_refused() -> None:
    with pytest.raises(ValueError, match="max_attempts"):
        EngineConfig(max_attempts=0)
