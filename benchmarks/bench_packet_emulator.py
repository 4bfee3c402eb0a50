"""How many packets a second does imload's userspace netem handle? (as root)

    sudo .venv/bin/python benchmarks/bench_packet_emulator.py [--quick] [--seconds S]
                                                              [--delay MS]

One bulk TCP transfer from the run's namespace to a sink on the host end, for
``--seconds`` (10; 3 with --quick), first without a fault (the baseline), then with
``delay = --delay`` ms (10) both ways, made by the emulator (imload/faults/nfqueue.py:
one process per direction). Prints one JSON object per line (docs/architecture.md,
"Benchmarks"):

- emulator_bytes_per_s, with ``baseline`` (no fault) and ``ratio``;
- emulator_segments_per_s: the devices' TCP segments sent a second, upstream;
- emulator_packets_per_s: packets both emulator processes saw a second (data and acks);
- emulator_cpu_share_upstream / _downstream: each process's CPU seconds per second.

Without root, or where the emulator is not used (the kernel has netem) or cannot work,
it prints one ``{"skipped": why}`` line and exits 0.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from imload.faults.netns import PacketNetwork, means
from imload.faults.packet_emulator import seed_of
from imload.faults.packet_rules import DOWN, UP, LinkFault, Shape

SINK = """
import socket, sys
srv = socket.create_server((sys.argv[1], 0))
print(srv.getsockname()[1], flush=True)
conn, _ = srv.accept()
while conn.recv(1 << 20):
    pass
conn.close()
"""

BULK = """
import socket, sys, time
s = socket.create_connection((sys.argv[1], int(sys.argv[2])))
chunk, sent, t = b"z" * 65536, 0, time.monotonic()
while time.monotonic() - t < float(sys.argv[3]):
    s.sendall(chunk)
    sent += len(chunk)
s.shutdown(socket.SHUT_WR)
s.recv(1)
print(sent, time.monotonic() - t)
"""


def cpu_seconds(fault_id: str) -> dict[str, float]:
    """Each direction's emulator process's CPU seconds so far (found by its seed)."""
    ps = subprocess.run(["ps", "-ww", "-eo", "pid,args"], capture_output=True,
                        text=True).stdout
    out = {}
    for direction in (UP, DOWN):
        for line in ps.splitlines():
            if "imload.faults.nfqueue" in line and \
                    f"--seed {seed_of(fault_id, direction)} " in line:
                stat = Path(f"/proc/{line.split()[0]}/stat").read_text()
                fields = stat.rsplit(")", 1)[1].split()
                out[direction] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return out


def transfer(net: PacketNetwork, seconds: float, shape: Shape | None) -> dict[str, float]:
    sink = subprocess.Popen([sys.executable, "-c", SINK, net.host_ip], stdout=subprocess.PIPE,
                            text=True)
    try:
        assert sink.stdout is not None
        port = int(sink.stdout.readline())
        if shape is not None:
            net.add(LinkFault("bench", net.host_ip, port, "both", shape))
        before = net.tcp_counters()
        done = subprocess.run([*net.exec_prefix(), sys.executable, "-c", BULK, net.host_ip,
                               str(port), str(seconds)], check=True, capture_output=True,
                              text=True, timeout=seconds + 120).stdout
        after = net.tcp_counters()
        cpu = cpu_seconds("bench") if shape is not None else {}
        if shape is not None:
            net.remove("bench")
    finally:
        sink.kill()
        sink.wait()
    sent, took = done.split()
    return {"bytes_per_s": int(sent) / float(took), "took": float(took),
            "segments_per_s": (after["OutSegs"] - before["OutSegs"]) / float(took),
            **{f"cpu_{d}": c / float(took) for d, c in cpu.items()}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--seconds", type=float, default=None)
    parser.add_argument("--delay", type=float, default=10.0)
    args = parser.parse_args()
    m = means()
    why = m.refusal() or ("the kernel has netem" if m.netem else m.emulator)
    if why:
        print(json.dumps({"skipped": why}))
        return 0
    seconds = args.seconds or (3.0 if args.quick else 10.0)
    with PacketNetwork(f"bench{time.monotonic_ns() % 10**6:x}") as net:
        bare = transfer(net, seconds, None)
        shaped = transfer(net, seconds, Shape(delay=args.delay))
        seen = net.emulated().get("seen", 0)
    rate = shaped["bytes_per_s"]
    for figure, value, unit, extra in (
            ("emulator_bytes_per_s", rate, "B/s",
             {"baseline": round(bare["bytes_per_s"]), "ratio": round(rate / bare["bytes_per_s"],
                                                                     3)}),
            ("emulator_segments_per_s", shaped["segments_per_s"], "segments/s", {}),
            ("emulator_packets_per_s", seen / shaped["took"], "packets/s", {}),
            ("emulator_cpu_share_upstream", shaped.get(f"cpu_{UP}", 0.0), "cores", {}),
            ("emulator_cpu_share_downstream", shaped.get(f"cpu_{DOWN}", 0.0), "cores", {})):
        print(json.dumps({"figure": figure, "value": round(value, 2), "unit": unit, **extra}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
