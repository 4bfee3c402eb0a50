"""The userspace emulator's model (imload/faults/packet_emulator.py), pure: the delay's
distributions, reorder's share, duplicates, one bit flipped after the IP header, a
malformed packet passed unchanged, and the same seed making the same decisions."""

from __future__ import annotations

import random
import statistics

import pytest

from imload.faults.packet_emulator import (
    Emulation,
    flip_bit,
    ip_header_length,
    seed_of,
    standard_draw,
)
from imload.faults.packet_rules import DISTRIBUTIONS, Shape

# an IPv4 header (20 bytes, TCP) and a 20-byte TCP header with 40 bytes of data
PACKET = bytes([0x45, 0, 0, 80, 0, 1, 0x40, 0, 64, 6, 0, 0, 198, 18, 0, 2, 198, 18, 0, 1]) \
    + bytes(range(60))
DRAWS = 20_000


@pytest.mark.parametrize("distribution", DISTRIBUTIONS)
def test_each_distribution_has_mean_0(distribution: str) -> None:
    rng = random.Random(7)
    draws = [standard_draw(rng, distribution) for _ in range(DRAWS)]
    assert abs(statistics.fmean(draws)) < 0.05
    sigma = statistics.pstdev(draws)
    if distribution == "uniform":  # -1..1: sigma 1/sqrt(3)
        assert min(draws) >= -1 and max(draws) <= 1 and 0.55 < sigma < 0.6
    else:  # pareto's tail is heavy: a loose bound on its sample sigma
        assert 0.85 < sigma < 1.15, sigma


def test_an_unknown_distribution_is_named() -> None:
    with pytest.raises(ValueError, match="distribution is one of normal, pareto"):
        Emulation(Shape(delay=10, jitter=5, distribution="cauchy"), 1)


def test_delay_and_jitter_in_ms_clamped_at_0() -> None:
    emulation = Emulation(Shape(delay=100, jitter=20, distribution="normal"), 3)
    delays = [emulation.delay_s() for _ in range(DRAWS)]
    assert abs(statistics.fmean(delays) - 0.100) < 0.002
    assert abs(statistics.pstdev(delays) - 0.020) < 0.002
    wide = Emulation(Shape(delay=10, jitter=50, distribution="normal"), 3)
    assert min(wide.delay_s() for _ in range(2000)) == 0.0  # never below 0


def test_without_a_distribution_the_jitter_is_uniform_like_netem() -> None:
    emulation = Emulation(Shape(delay=100, jitter=20), 4)
    delays = [emulation.delay_s() for _ in range(DRAWS)]
    assert 0.080 <= min(delays) and max(delays) <= 0.120


def test_reorder_sends_its_share_at_once() -> None:
    emulation = Emulation(Shape(delay=50, reorder=10), 5)
    decisions = [emulation.decide(PACKET) for _ in range(DRAWS)]
    at_once = sum(d.delay_s == 0 for d in decisions)
    assert 0.08 * DRAWS < at_once < 0.12 * DRAWS
    assert emulation.counts["reordered"] == at_once
    assert emulation.counts["delayed"] == DRAWS - at_once


def test_duplicates_get_a_delay_of_their_own() -> None:
    emulation = Emulation(Shape(delay=50, jitter=10, duplicate=10), 6)
    copies = [d for d in (emulation.decide(PACKET) for _ in range(DRAWS))
              if d.copy_delay_s is not None]
    assert 0.08 * DRAWS < len(copies) < 0.12 * DRAWS
    assert emulation.counts["duplicated"] == len(copies)
    assert any(d.copy_delay_s != d.delay_s for d in copies)


def test_corrupt_flips_exactly_one_bit_after_the_ip_header() -> None:
    rng = random.Random(8)
    for _ in range(500):
        out = flip_bit(PACKET, rng)
        assert out is not None and len(out) == len(PACKET)
        diff = [(i, a ^ b) for i, (a, b) in enumerate(zip(PACKET, out, strict=True)) if a != b]
        assert len(diff) == 1
        at, bits = diff[0]
        assert at >= 20 and bin(bits).count("1") == 1
    emulation = Emulation(Shape(corrupt=100), 9)
    decision = emulation.decide(PACKET)
    assert decision.payload is not None and decision.payload[:20] == PACKET[:20]
    assert emulation.counts["corrupted"] == 1


@pytest.mark.parametrize("packet", [b"", b"\x45" * 10, bytes([0x60]) + PACKET[1:],
                                    bytes([0x4F]) + PACKET[1:40], PACKET[:20]])
def test_a_malformed_packet_passes_unchanged(packet: bytes) -> None:
    assert ip_header_length(packet) is None and flip_bit(packet, random.Random(1)) is None
    emulation = Emulation(Shape(delay=100, duplicate=100, corrupt=100), 10)
    decision = emulation.decide(packet)
    assert (decision.delay_s, decision.payload, decision.copy_delay_s) == (0.0, None, None)
    assert emulation.counts["errors"] == 1 and emulation.counts["seen"] == 1


def test_the_same_seed_makes_the_same_decisions() -> None:
    shape = Shape(delay=100, jitter=30, distribution="paretonormal", reorder=5, duplicate=5,
                  corrupt=5)
    one, two = Emulation(shape, 11), Emulation(shape, 11)
    assert [one.decide(PACKET) for _ in range(300)] == [two.decide(PACKET) for _ in range(300)]
    assert seed_of("f1_netem_n1", "upstream") == seed_of("f1_netem_n1", "upstream")
    assert seed_of("f1_netem_n1", "upstream") != seed_of("f1_netem_n1", "downstream")
