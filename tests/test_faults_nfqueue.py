"""imload's userspace netem process (imload/faults/nfqueue.py): with stand-in packets, no
packet stops it and a stop releases what it holds; on a real namespace, as root, delay
raises the round trip, corrupted and duplicated packets still deliver every byte intact
(TCP drops the corrupted ones and retransmits), and no emulator is left."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from process_helpers import ctrl_c_on_leaving, script_server

from imload.faults.netns import PacketNetwork, leftovers, means
from imload.faults.nfqueue import Emulator
from imload.faults.packet_emulator import Emulation, seed_of
from imload.faults.packet_rules import DOWN, UP, LinkFault, Shape

REPO = Path(__file__).resolve().parent.parent


def test_a_bad_shape_is_a_clear_error() -> None:
    done = subprocess.run([sys.executable, "-m", "imload.faults.nfqueue", "--queue", "1",
                           "--shape", "[1]"], capture_output=True, text=True, cwd=REPO,
                          timeout=60)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "--shape is a JSON object of Shape's fields" in done.stderr


class Packet:
    """What the emulator uses of fnfqueue's packet: its bytes and its verdict."""

    def __init__(self, data: bytes | None, verdicts: list[tuple[str, bytes | None]]) -> None:
        self._data, self._verdicts, self.changed = data, verdicts, None

    @property
    def payload(self) -> bytes:
        if self._data is None:
            raise OSError("no payload")
        return self._data

    @payload.setter
    def payload(self, value: bytes) -> None:
        self.changed = value

    def accept(self) -> None:
        self._verdicts.append(("accept", self._data))

    def mangle(self) -> None:
        self._verdicts.append(("mangle", self.changed))

    def drop(self) -> None:
        self._verdicts.append(("drop", self._data))


IP = bytes([0x45, 0, 0, 40, 0, 1, 0x40, 0, 64, 6, 0, 0, 198, 18, 0, 2, 198, 18, 0, 1])


def test_no_packet_stops_it_and_a_stop_releases_the_held() -> None:
    verdicts: list[tuple[str, bytes | None]] = []
    packets = [Packet(IP + bytes([i]) * 20, verdicts) for i in range(5)]
    odd = [Packet(b"not ip", verdicts), Packet(None, verdicts)]
    emulator = Emulator(Emulation(Shape(delay=60_000), 1), [*packets, *odd], None)
    emulator.receive()
    assert verdicts == [("accept", b"not ip"), ("accept", None)]  # at once, unchanged
    assert emulator.counts["errors"] == 2 and emulator.counts["delayed"] == 5
    emulator.stopping = True
    emulator.run(lambda: None)  # a minute early: everything held goes now, in order
    assert verdicts[2:] == [("accept", p.payload) for p in packets]


def test_a_corrupted_packet_goes_with_its_new_bytes() -> None:
    verdicts: list[tuple[str, bytes | None]] = []
    emulator = Emulator(Emulation(Shape(corrupt=100), 2), [Packet(IP + bytes(20), verdicts)],
                        None)
    emulator.receive()
    (how, data), = verdicts
    assert how == "mangle" and data is not None and data[:20] == IP and data != IP + bytes(20)


@pytest.fixture
def emulator_here() -> None:
    m = means()
    if m.refusal() is not None or m.netem or m.emulator is not None:
        pytest.skip(f"the userspace emulator is not used here: {m.refusal() or m.emulator}"
                    + (" (the kernel has netem)" if m.netem else ""))


@pytest.fixture
def network(emulator_here: None) -> Iterator[PacketNetwork]:
    net = PacketNetwork(f"q{time.monotonic_ns() % 10**9:x}")
    with net:
        yield net
    assert [x for x in leftovers() if net.ns in x or net.host_dev[:-1] in x] == []
    assert emulators_of(net.ns) == []


def emulators_of(fault_id: str) -> list[str]:
    """The emulator processes of ``fault_id`` still running (found by their seeds)."""
    ps = subprocess.run(["ps", "-ww", "-eo", "pid,args"], capture_output=True,
                        text=True).stdout
    seeds = {f"--seed {seed_of(fault_id, d)} " for d in (UP, DOWN)}
    return [line for line in ps.splitlines()
            if "imload.faults.nfqueue" in line and any(s in line for s in seeds)]


SERVER = """
import hashlib, socket, sys
srv = socket.create_server((sys.argv[1], 0))
print(srv.getsockname()[1], flush=True)
conn, _ = srv.accept()
conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
if sys.argv[2] == "echo":
    while data := conn.recv(65536):
        conn.sendall(data)
else:
    digest, got = hashlib.sha256(), 0
    while data := conn.recv(65536):
        digest.update(data)
        got += len(data)
    print(got, digest.hexdigest(), flush=True)
conn.close()
"""

PINGER = """
import socket, statistics, sys, time
s = socket.create_connection((sys.argv[1], int(sys.argv[2])))
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
rtts = []
for _ in range(15):
    t = time.monotonic()
    s.sendall(b"x")
    s.recv(1)
    rtts.append(time.monotonic() - t)
print(statistics.median(rtts) * 1000, flush=True)
"""

SENDER = """
import socket, sys, time
s = socket.create_connection((sys.argv[1], int(sys.argv[2])))
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
for i in range(800):
    s.sendall(bytes((i + j) % 251 for j in range(300)))
    time.sleep(0.002)
s.shutdown(socket.SHUT_WR)
s.recv(1)
"""
SENT = b"".join(bytes((i + j) % 251 for j in range(300)) for i in range(800))


def in_namespace(net: PacketNetwork, script: str, port: int) -> str:
    return subprocess.run([*net.exec_prefix(), sys.executable, "-c", script, net.host_ip,
                           str(port)], check=True, capture_output=True, text=True,
                          timeout=180).stdout


def test_delay_adds_to_the_round_trip(network: PacketNetwork) -> None:
    with script_server(SERVER, network.host_ip, "echo") as (port, _):
        network.add(LinkFault(network.ns, network.host_ip, port, "both", Shape(delay=50)))
        rules = subprocess.run([*network.exec_prefix(), "iptables", "-S"], check=True,
                               capture_output=True, text=True).stdout
        assert f"--dport {port}" in rules and f"--sport {port}" in rules and "NFQUEUE" in rules
        rtt_ms = float(in_namespace(network, PINGER, port))
        network.remove(network.ns)
    assert rtt_ms >= 80, rtt_ms  # 50 ms each way; no upper bound on a loaded machine
    counts = network.emulated()
    assert counts["delayed"] >= 15 and counts["errors"] == 0, counts
    assert emulators_of(network.ns) == []


def deliver(network: PacketNetwork, shape: Shape) -> tuple[dict[str, int], int]:
    """Send ``SENT`` across the namespace with ``shape`` on; the emulator's counts and the
    segments TCP sent again. Asserts every byte arrived intact."""
    with script_server(SERVER, network.host_ip, "digest") as (port, proc):
        network.add(LinkFault(network.ns, network.host_ip, port, "both", shape))
        before = network.tcp_counters()
        in_namespace(network, SENDER, port)
        after = network.tcp_counters()
        got, _ = proc.communicate(timeout=60)
        network.remove(network.ns)
    size, digest = got.split()
    assert int(size) == len(SENT) and digest == hashlib.sha256(SENT).hexdigest()
    return network.emulated(), after["RetransSegs"] - before["RetransSegs"]


def test_corrupted_packets_are_retransmitted_intact(network: PacketNetwork) -> None:
    counts, again = deliver(network, Shape(corrupt=5))
    assert counts["corrupted"] > 0 and again > 0, (counts, again)


def test_duplicated_packets_deliver_every_byte_once(network: PacketNetwork,
                                                    tmp_path: Path) -> None:
    counts, _ = deliver(network, Shape(duplicate=10))
    assert counts["duplicated"] > 0 and counts["errors"] == 0, counts
    said = network.keep_counters(tmp_path / "network.json")
    assert f"{counts['duplicated']} duplicated" in said
    assert json.loads((tmp_path / "network.json").read_text())["emulator"] == counts


HOLDER = """
import sys, time
from imload.faults.netns import PacketNetwork
from imload.faults.packet_rules import LinkFault, Shape
with PacketNetwork(sys.argv[1]) as net:
    net.add(LinkFault(net.ns, net.host_ip, 7201, "both", Shape(delay=100, duplicate=1)))
    print(net.ns, flush=True)
    time.sleep(60)
"""


def test_ctrl_c_stops_the_emulators_and_removes_the_namespace(emulator_here: None) -> None:
    run_id = f"qint{time.monotonic_ns() % 10**6:x}"
    with ctrl_c_on_leaving(HOLDER, run_id) as ns:
        assert len(emulators_of(ns)) == 2  # upstream and downstream
    assert emulators_of(ns) == [] and [x for x in leftovers() if ns in x] == []


def test_held_packets_survive_other_faults_coming_and_going(network: PacketNetwork) -> None:
    """A loss fault on another port starts and stops five times while the emulator holds
    the acks of a transfer: the loss tables change in place, so the kernel never drops
    what the emulator holds (removing a hook would: every verdict then fails, ENOENT)."""
    with script_server(SERVER, network.host_ip, "digest") as (port, proc):
        network.add(LinkFault(network.ns, network.host_ip, port, "both", Shape(delay=200)))
        sender = subprocess.Popen([*network.exec_prefix(), sys.executable, "-c", SENDER,
                                   network.host_ip, str(port)])
        try:
            for n in range(5):
                other = LinkFault(f"{network.ns}-other", network.host_ip, port + 1, "both",
                                  Shape(loss=50, loss_burst=2 + n))
                network.add(other)
                time.sleep(0.2)
                network.remove(other.fault_id)
                time.sleep(0.1)
            assert sender.wait(timeout=120) == 0
        finally:
            if sender.poll() is None:
                sender.kill()
                sender.wait()
        got, _ = proc.communicate(timeout=60)
        network.remove(network.ns)
    size, digest = got.split()
    assert int(size) == len(SENT) and digest == hashlib.sha256(SENT).hexdigest()
    counts = network.emulated()
    assert counts["delayed"] > 100 and counts["errors"] == 0, counts
