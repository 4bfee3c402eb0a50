"""benchmarks/bench_xmpp.py measures something: 2 pairs of XMPP devices against a private
Prosody for 2 s exchange acked, delivered messages (integration: starts Prosody)."""

from __future__ import annotations

import shutil

import pytest
from bench_helpers import load_bench


@pytest.mark.integration
@pytest.mark.skipif(shutil.which("prosody") is None, reason="prosody is not installed")
def test_two_pairs_for_two_seconds_make_messages() -> None:
    m = load_bench("bench_xmpp").run(2, 2.0, warmup_s=0.5, parts=True)
    assert m["devices"] == 4 and m["errors"] == 0
    assert m["acked"] > 0 and m["delivered"] > 0 and m["cpu_s"] > 0
    assert m["frames_out"] > 0 and m["frames_in"] > 0
    assert m["server_cpu_s"] is not None and m["server_cpu_s"] > 0
    assert 0.99 < sum(m["part_shares"].values()) < 1.01
