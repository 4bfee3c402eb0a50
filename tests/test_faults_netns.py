"""The devices' network (imload/faults/netns.py): names, addresses and counters without I/O;
as root, a real namespace with 10 % bursty loss where TCP retransmits, and nothing left
behind, on Ctrl-C too."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from process_helpers import ctrl_c_on_leaving, script_server

from imload.faults.netns import (
    BLOCK,
    Means,
    NetError,
    PacketNetwork,
    leftovers,
    means,
    names,
    pick_subnet,
    ports_of,
    sh,
    tcp_counters,
)
from imload.faults.packet_rules import LinkFault, Shape

REPO = Path(__file__).resolve().parent.parent


def test_names_fit_a_link_name() -> None:
    ns, host, peer, table = names("r1a2b3c4d5")
    assert ns == "imload-r1a2b3c4d5" and table == "imload_r1a2b3c4d5"
    assert len(host) <= 15 and len(peer) <= 15 and host[:-1] == peer[:-1]
    assert names("r1a2b3c4d5") == (ns, host, peer, table)  # a function of the run id
    with pytest.raises(ValueError, match="a run id is 1-40 of"):
        names("../etc")


def test_subnet_is_in_the_block_and_free() -> None:
    first = pick_subnet("imload-x", set())
    assert first.prefixlen == 30 and first.subnet_of(BLOCK)  # type: ignore[arg-type]
    taken = {next(first.hosts())}
    second = pick_subnet("imload-x", taken)
    assert second != first and not any(a in second for a in taken)


def test_refusals_name_what_is_missing() -> None:
    assert Means(False, (), False, False).refusal() == (
        "packet faults need root (network namespaces, veth pairs, tc and nft): run imload "
        "as root")
    assert "nft (nftables) on PATH" in (Means(True, ("nft (nftables)",), False, False)
                                        .refusal() or "")
    assert Means(True, (), False, True).refusal() is None


def test_tcp_counters_from_proc_text() -> None:
    text = ("Ip: Forwarding DefaultTTL\nIp: 1 64\n"
            "Tcp: RtoAlgorithm OutSegs RetransSegs\nTcp: 1 500 42\n"
            "TcpExt: TCPTimeouts TCPLossProbes\nTcpExt: 7 3\n")
    assert tcp_counters(text) == {"OutSegs": 500, "RetransSegs": 42, "TCPTimeouts": 7,
                                  "TCPLossProbes": 3, "TCPSynRetrans": 0,
                                  "TCPFastRetrans": 0, "TCPSlowStartRetrans": 0}


def test_ports_of_urls() -> None:
    class N:
        def __init__(self, url: str) -> None:
            self.url = url
    nodes = {"n1": N("ws://198.18.0.1:7201/ws"), "n1.slow": N("ws://198.18.0.1:7301/ws"),
             "store": N(""), "odd": N("ws://h:notaport/")}
    assert ports_of(nodes) == {"n1": 7201, "n1.slow": 7301}


# -- as root: a real namespace ----------------------------------------------------------


@pytest.fixture
def root_means() -> Means:
    m = means()
    if m.refusal() is not None or not m.nft:
        pytest.skip(f"packet faults cannot be made here: {m.refusal() or 'no nft'}")
    return m


@pytest.fixture
def network(root_means: Means) -> Iterator[PacketNetwork]:
    net = PacketNetwork(f"t{time.monotonic_ns() % 10**9:x}")
    with net:
        yield net
    assert [x for x in leftovers() if net.ns in x or net.host_dev[:-1] in x
            or net.table in x] == []


SINK = """
import socket, sys
srv = socket.create_server((sys.argv[1], 0))
print(srv.getsockname()[1], flush=True)
conn, _ = srv.accept()
got = 0
while data := conn.recv(65536):
    got += len(data)
conn.close()
print(got, flush=True)
"""


SENDER = """
import socket, sys, time
s = socket.create_connection((sys.argv[1], int(sys.argv[2])))
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
for i in range(1200):       # chat-sized writes (TCP may merge them while it recovers)
    s.sendall(b"m" * 300)
    time.sleep(0.002)
s.shutdown(socket.SHUT_WR)
s.recv(1)
"""


def bound_backoff(network: PacketNetwork) -> None:
    """The namespace's TCP backs off to 2 s at most (``tcp_rto_max_ms``, Linux 6.15 on):
    the kernel's loss is random, unseeded, and a burst that takes a segment's every
    retransmission would double its timeout up to 120 s, past the test's bounds (a
    run or two in a hundred). With timeouts that short, the default retry counts give up
    sooner: 15 retransmissions of a segment (``tcp_retries2``) are 30 s, and an idle
    segment (the last data, the FIN) is all a burst then meets, so a burst of 15 ended
    the connection (ETIMEDOUT, once in CI); 6 SYNs as much. The namespace retries 40
    times (about 80 s, inside the test's 120 s; a burst that long: (2/3)^40, about 1e-7).
    The test is about retransmissions, not backoff or giving up."""
    for setting in ("net.ipv4.tcp_rto_max_ms=2000", "net.ipv4.tcp_retries2=40",
                    "net.ipv4.tcp_syn_retries=40"):
        subprocess.run([*network.exec_prefix(), "sysctl", "-qw", setting],
                       capture_output=True, check=False)  # an older kernel: its own stand


def test_bursty_loss_makes_tcp_retransmit(network: PacketNetwork) -> None:
    bound_backoff(network)
    with script_server(SINK, network.host_ip) as (port, receiver):
        network.add(LinkFault("f1_netem_n1", network.host_ip, port, "both",
                              Shape(loss=10, loss_burst=3)))
        listed = sh(["nft", "list", "table", "netdev", network.table])
        assert f"tcp dport {port} jump f_f1_netem_n1" in listed
        before = network.tcp_counters()
        subprocess.run([*network.exec_prefix(), sys.executable, "-c", SENDER,
                        network.host_ip, str(port)], check=True, timeout=120)
        after = network.tcp_counters()
        got, _ = receiver.communicate(timeout=30)
    assert int(got) == 1200 * 300  # TCP delivered everything despite the loss
    sent = after["OutSegs"] - before["OutSegs"]
    again = after["RetransSegs"] - before["RetransSegs"]
    # ~10 % of some 500 segments (bursts of 3 on average): fewer than 5 would be a
    # probability far below 1e-6
    assert sent >= 200 and again >= 5, (sent, again)
    network.remove("f1_netem_n1")
    assert "f_f1_netem_n1" not in sh(["nft", "list", "ruleset"])


def test_rate_is_an_htb_class(network: PacketNetwork) -> None:
    network.add(LinkFault("f1", network.host_ip, 7201, "upstream", Shape(rate=64)))
    shown = sh(["tc", "-n", network.ns, "class", "show", "dev", network.ns_dev])
    assert "rate 64Kbit" in shown
    network.remove("f1")
    assert "htb" not in sh(["tc", "-n", network.ns, "qdisc", "show", "dev", network.ns_dev])


def test_close_is_idempotent_and_refuses_nothing_twice(root_means: Means) -> None:
    net = PacketNetwork("tclose").open()
    assert f"netns {net.ns}" in leftovers()
    assert net.close() == [] and net.close() == []
    assert not [x for x in leftovers() if net.ns in x]
    with pytest.raises(NetError, match="Cannot create namespace file"), \
            PacketNetwork("tdup") as one:
        PacketNetwork("tdup").open()  # the same name twice: the second is refused
    assert one.close() == [] and not [x for x in leftovers() if "tdup" in x]


HOLDER = """
import sys, time
from imload.faults.netns import PacketNetwork
from imload.faults.packet_rules import LinkFault, Shape
with PacketNetwork(sys.argv[1]) as net:
    net.add(LinkFault("f1", net.host_ip, 7201, "both", Shape(loss=10, loss_burst=3, rate=64)))
    print("ready", flush=True)
    time.sleep(60)
"""


def test_ctrl_c_removes_everything(root_means: Means) -> None:
    run_id = f"tint{time.monotonic_ns() % 10**6:x}"
    ns, host_dev, _, table = names(run_id)
    with ctrl_c_on_leaving(HOLDER, run_id, timeout_s=30) as said:
        assert said == "ready"
        assert f"netns {ns}" in leftovers() and any(table in x for x in leftovers())
    assert [x for x in leftovers() if ns in x or host_dev[:-1] in x or table in x] == []
