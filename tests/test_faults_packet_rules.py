"""Packet faults as rules (imload/faults/packet_rules.py): pure, no I/O."""

from __future__ import annotations

import random

import pytest

from imload.faults.packet_rules import (
    COPY_MARK,
    DOWN,
    UP,
    LinkFault,
    Shape,
    emulated,
    gilbert,
    netem_args,
    nfqueue_rule,
    nft_remove,
    nft_script,
    tc_commands,
)

HOST = "198.18.0.1"


def fault(stream: str = "both", port: int = 7201, fault_id: str = "f1_netem_n1",
          **shape: float) -> LinkFault:
    return LinkFault(fault_id, HOST, port, stream, Shape(**shape))  # type: ignore[arg-type]


@pytest.mark.parametrize(("loss", "burst"), [(10, 3), (1, 1), (30, 5), (50, 2)])
def test_gilbert_gives_the_mean_loss_and_burst(loss: float, burst: float) -> None:
    p, r = gilbert(loss, burst)
    assert p / (p + r) == pytest.approx(loss / 100)
    assert 1 / r == pytest.approx(burst)


def test_gilbert_walked_gives_its_figures() -> None:
    """The two-state walk the nft rules make, drawn with a fixed seed."""
    p, r = gilbert(10, 3)
    rng, bad, lost, bursts = random.Random(18), False, 0, 0
    for _ in range(200_000):
        if bad and rng.random() < r:
            bad = False          # the burst ends; this packet passes
        elif bad:
            lost += 1
        elif rng.random() < p:
            bad, lost, bursts = True, lost + 1, bursts + 1
    assert lost / 200_000 == pytest.approx(0.10, abs=0.01)
    assert lost / bursts == pytest.approx(3, abs=0.3)


@pytest.mark.parametrize(("loss", "burst", "says"), [
    (60, 1, "make loss_burst at least 1.50"), (0, 3, "0 < loss < 100"),
    (100, 3, "0 < loss < 100"), (10, 0.5, "loss_burst >= 1")])
def test_gilbert_refuses_what_cannot_be(loss: float, burst: float, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        gilbert(loss, burst)


def test_nft_independent_loss_at_the_receiving_ingress() -> None:
    script = nft_script("imload_r1", "imab12cd34h", UP, [fault(loss=10)], netem=False)
    assert script.startswith("add table netdev imload_r1\n")
    assert "delete table" not in script  # a hook removed drops what the emulator holds
    assert "numgen random mod 10000 < 1000 drop" in script
    assert 'hook ingress device "imab12cd34h"' in script
    assert f"add rule netdev imload_r1 ingress ip daddr {HOST} tcp dport 7201 jump " \
        "f_f1_netem_n1" in script
    down = nft_script("imload", "imab12cd34n", DOWN, [fault(loss=10)], netem=False)
    assert f"ip saddr {HOST} tcp sport 7201 jump f_f1_netem_n1" in down


def test_nft_total_loss_drops_every_packet_without_numgen() -> None:
    """numgen's numbers are 0..9999: "< 10000" is refused by nft, so 100 % is a plain drop
    (a handover's radio gap in the high-speed-rail-packets preset)."""
    script = nft_script("imload_r1", "imab12cd34h", UP, [fault(loss=100)], netem=False)
    assert "numgen" not in script and "\n    drop\n" in script
    assert "numgen random mod 10000 < 9990 drop" in nft_script(
        "imload_r1", "imab12cd34h", UP, [fault(loss=99.9)], netem=False)


def test_nft_bursty_loss_is_a_two_state_set() -> None:
    script = nft_script("t", "d", UP, [fault(loss=10, loss_burst=3)], netem=False)
    assert "set f_f1_netem_n1 { type inet_proto; flags dynamic; }" in script
    assert ("meta l4proto @f_f1_netem_n1 numgen random mod 10000 < 3333 "
            "delete @f_f1_netem_n1 { meta l4proto } return") in script
    assert "meta l4proto @f_f1_netem_n1 drop" in script
    assert "numgen random mod 10000 < 370 add @f_f1_netem_n1 { meta l4proto } drop" in script


def test_nft_says_nothing_when_its_part_is_unchanged() -> None:
    assert nft_script("t", "d", UP, [], netem=False) == ""
    assert nft_script("t", "d", UP, [fault(stream=DOWN, loss=5)], netem=False) == ""
    assert nft_script("t", "d", UP, [fault(rate=100)], netem=False) == ""
    assert nft_script("t", "d", UP, [fault(loss=5)], netem=True) == ""  # netem makes it
    lossy = [fault(loss=5)]
    assert nft_script("t", "d", UP, [*lossy, fault("both", 7202, "f2", rate=9)], False,
                      before=lossy) == ""  # a rate fault came: the loss table stays


def test_nft_moves_between_fault_sets_without_removing_the_hook() -> None:
    """A fault ends: its chain (and set) go, the ingress chain is emptied, the others are
    made again; the table and its hooked chain stay."""
    a = fault(fault_id="fa", loss=5, loss_burst=2)
    b = fault(port=7202, fault_id="fb", loss=100)
    script = nft_script("t", "d", UP, [b], netem=False, before=[a, b])
    lines = script.splitlines()
    assert lines[:3] == ["add table netdev t", 'add chain netdev t ingress { type filter hook '
                         'ingress device "d" priority 0; policy accept; }',
                         "flush chain netdev t ingress"]
    assert "flush chain netdev t f_fa" in lines and "delete chain netdev t f_fa" in lines
    assert "delete set netdev t f_fa" in lines
    assert lines.index("flush chain netdev t f_fa") < lines.index("delete chain netdev t f_fa")
    assert lines[-1] == f"add rule netdev t ingress ip daddr {HOST} tcp dport 7202 jump f_fb"
    assert "delete table" not in script
    assert nft_remove("t") == "table netdev t {}\ndelete table netdev t\n"


def test_nft_names_are_identifiers() -> None:
    f = fault(fault_id="f2_netem_n1.slow", loss=1)
    assert f.chain == "f_f2_netem_n1_slow"


def test_netem_args_only_with_netem() -> None:
    shape = Shape(loss=10, loss_burst=3, delay=100, jitter=20, distribution="pareto",
                  reorder=5, duplicate=1, corrupt=0.5)
    assert netem_args(shape, netem=False) == []
    assert netem_args(shape, netem=True) == [
        "netem", "delay", "100ms", "20ms", "distribution", "pareto",
        "loss", "gemodel", "3.704%", "33.33%", "reorder", "5%", "duplicate", "1%",
        "corrupt", "0.5%"]
    assert netem_args(Shape(loss=2), netem=True) == ["netem", "loss", "random", "2%"]
    assert netem_args(Shape(rate=64), netem=True) == []
    assert Shape(delay=1, reorder=2).asked() == ["delay", "reorder"]
    assert Shape(loss=5, loss_burst=2, rate=8).asked() == []


def test_tc_rate_is_an_htb_class_per_fault() -> None:
    faults = [fault(rate=128), fault(port=7301, fault_id="f2", stream=DOWN, rate=64),
              fault(port=7401, fault_id="f3", loss=10)]  # loss: nft's, not tc's
    up = tc_commands("dev0", UP, faults, netem=False)
    assert up == [
        ["qdisc", "add", "dev", "dev0", "root", "handle", "1:", "htb"],
        ["class", "add", "dev", "dev0", "parent", "1:", "classid", "1:1", "htb",
         "rate", "128kbit", "ceil", "128kbit", "quantum", "1514"],
        ["filter", "add", "dev", "dev0", "parent", "1:", "protocol", "ip", "prio", "1",
         "u32", "match", "ip", "dst", f"{HOST}/32", "match", "ip", "dport", "7201",
         "0xffff", "flowid", "1:1"]]
    down = tc_commands("dev1", DOWN, faults, netem=False)
    assert ["match", "ip", "src", f"{HOST}/32", "match", "ip", "sport", "7201"] == \
        down[2][11:19]
    assert down[3][-6:-2] == ["rate", "64kbit", "ceil", "64kbit"]
    assert tc_commands("dev0", UP, [fault(loss=10)], netem=False) == []


def test_tc_netem_leaf_under_its_class() -> None:
    cmds = tc_commands("dev0", UP, [fault(delay=50)], netem=True)
    assert cmds[1][-6:] == ["rate", "10gbit", "ceil", "10gbit", "quantum", "1514"]
    assert cmds[2] == ["qdisc", "add", "dev", "dev0", "parent", "1:1", "handle", "11:",
                       "netem", "delay", "50ms"]


def test_nfqueue_rules_match_each_direction_and_skip_the_copies() -> None:
    f = fault(delay=100)
    assert nfqueue_rule(f, UP, 3) == [
        "OUTPUT", "-d", f"{HOST}/32", "-p", "tcp", "--dport", "7201", "-m", "mark", "!",
        "--mark", hex(COPY_MARK), "-j", "NFQUEUE", "--queue-num", "3", "--queue-bypass"]
    assert nfqueue_rule(f, DOWN, 4) == [
        "INPUT", "-s", f"{HOST}/32", "-p", "tcp", "--sport", "7201", "-m", "mark", "!",
        "--mark", hex(COPY_MARK), "-j", "NFQUEUE", "--queue-num", "4", "--queue-bypass"]


def test_the_emulator_makes_what_netem_would_but_loss_and_rate() -> None:
    assert emulated(Shape(loss=10, loss_burst=3, rate=64)) == {}
    assert emulated(Shape(loss=5, delay=100, jitter=10, distribution="pareto", reorder=5,
                          duplicate=1, corrupt=0.5, rate=64)) == {
        "delay": 100, "jitter": 10, "distribution": "pareto", "reorder": 5, "duplicate": 1,
        "corrupt": 0.5}
