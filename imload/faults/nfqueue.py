"""imload's userspace netem: one process per fault and direction, inside the run's namespace.

``python -m imload.faults.nfqueue --queue N --shape JSON --seed S --counts PATH`` reads the
packets an iptables ``NFQUEUE`` rule sends to queue ``N`` (``packet_rules.nfqueue_rules``),
asks ``packet_emulator.Emulation`` what to do with each, and gives each its verdict when it
is due: a thread receives (``fnfqueue``), the main thread releases the held packets from a
heap of due times. A duplicate is sent through a raw socket (``IP_HDRINCL``) carrying
``packet_rules.COPY_MARK``, which the rules skip, so it is not queued again. A corrupted
packet is accepted with its new bytes (its TCP checksum is then wrong: the receiver drops
it).

Upstream (``--resend``: the queue is in the devices' OUTPUT hook) a delayed packet is
dropped at once and its bytes sent through the raw socket when due: a held packet still
belongs to its sender's socket, and TCP's small queues would let a connection have only a
couple of packets in the emulator at a time (netem orphans its packets for the same
reason). Downstream packets (INPUT) are held and accepted when due.

The process never stops on a packet: one it cannot handle is accepted unchanged and
counted as an error. SIGTERM (or SIGINT) releases every held packet and exits 0. The
counts (``packet_emulator.COUNTS``) are written to ``--counts`` as JSON once the queue is
bound (the parent waits for that file), every second, and at exit; the last ones are
also printed to stdout as one JSON line. The rules use ``--queue-bypass``: while no
process holds the queue, packets pass unshaped.
"""

from __future__ import annotations

import argparse
import heapq
import itertools
import json
import os
import signal
import socket
import sys
import threading
import time
from pathlib import Path
from types import FrameType
from typing import Any

from imload.faults.packet_emulator import Emulation
from imload.faults.packet_rules import COPY_MARK, Shape

MAXLEN = 10_000     # packets the kernel holds for this queue (beyond: accepted, fail-open)
BUFFER = 16_384     # bytes per packet buffer (fnfqueue's default 80 KiB, held per packet):
                    # the veth ends send one segment per packet (gso_max_segs 1)
TICK_S = 0.05       # the longest the releasing loop sleeps (a stop is seen this fast)
SAVE_EVERY_S = 1.0
RCVBUF = 16 << 20   # the netlink socket's receive buffer (see _grow_receive_buffer)
SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)


class Emulator:
    """Holds one queue's packets until they are due (see the module's doc)."""

    def __init__(self, emulation: Emulation, conn: Any, raw: socket.socket | None,
                 resend: bool = False) -> None:
        self.emulation = emulation
        self._resend = resend and raw is not None
        self.counts = emulation.counts
        self._conn = conn
        self._raw = raw
        self._heap: list[tuple[float, int, Any, bytes | None, bool]] = []
        self._order = itertools.count()
        self._cond = threading.Condition()
        self._verdicts = threading.Lock()
        self.stopping = False

    def receive(self) -> None:
        """Take packets until the connection closes (the receiving thread)."""
        import fnfqueue
        while True:
            try:
                for packet in self._conn:
                    self._handle(packet)
                return
            except fnfqueue.BufferOverflowException:
                self.counts["errors"] += 1
                self._conn.reset()
            except StopIteration:
                return
            except Exception:  # noqa: BLE001 - a message it cannot parse: go on reading
                self.counts["errors"] += 1
                if self.stopping:
                    return
                time.sleep(0.01)

    def _handle(self, packet: Any) -> None:
        try:
            data = bytes(packet.payload)
            if self.stopping:
                self._release(packet, None)
                return
            decision = self.emulation.decide(data)
        except Exception:  # noqa: BLE001 - never stop on a packet: pass it unchanged
            self.counts["errors"] += 1
            self._release(packet, None)
            return
        now = time.monotonic()
        if decision.copy_delay_s is not None:
            self._hold(now + decision.copy_delay_s, None, data, True)
        if decision.delay_s <= 0:
            self._release(packet, decision.payload)
        elif self._resend:  # the sender's socket lets go of it now: TSQ does not stall
            self._release(packet, None, drop=True)
            self._hold(now + decision.delay_s, None, decision.payload or data, True)
        else:
            self._hold(now + decision.delay_s, packet, decision.payload, False)

    def _hold(self, due: float, packet: Any, data: bytes | None, copy: bool) -> None:
        item = (due, next(self._order), packet, data, copy)
        with self._cond:
            heapq.heappush(self._heap, item)
            if self._heap[0] is item:  # sooner than what the releasing loop waits for
                self._cond.notify()

    def _release(self, packet: Any, payload: bytes | None, drop: bool = False) -> None:
        try:
            with self._verdicts:
                if drop:
                    packet.drop()
                elif payload is None:
                    packet.accept()
                else:
                    packet.payload = payload
                    packet.mangle()
        except Exception:  # noqa: BLE001 - a closed queue, a packet already judged
            self.counts["errors"] += 1

    def _send_copy(self, data: bytes) -> None:
        if self._raw is None:
            return
        try:
            self._raw.sendto(data, (socket.inet_ntoa(data[16:20]), 0))
        except OSError:
            self.counts["errors"] += 1

    def run(self, save: Any) -> None:
        """Release the due packets until ``stopping``; then release every held one."""
        saved = time.monotonic()
        while not self.stopping:
            now = time.monotonic()
            due = []
            with self._cond:
                while self._heap and self._heap[0][0] <= now:
                    due.append(heapq.heappop(self._heap))
                if not due:
                    wait = self._heap[0][0] - now if self._heap else TICK_S
                    self._cond.wait(min(TICK_S, max(0.0, wait)))
            for _, _, packet, data, copy in due:
                if copy:
                    self._send_copy(data or b"")
                else:
                    self._release(packet, data)
            if now - saved >= SAVE_EVERY_S:
                save()
                saved = now
        with self._cond:
            held, self._heap = self._heap, []
        for _, _, packet, data, copy in sorted(held):
            if copy:
                self._send_copy(data or b"")
            else:
                self._release(packet, data)


def _grow_receive_buffer(fd: int) -> None:
    """Give the queue's netlink socket ``RCVBUF`` bytes: while the receiving thread waits
    for the GIL, the kernel's messages queue there, and past the default (~200 KiB) it
    drops them (ENOBUFS: packets lost that the fault did not ask for, counted as errors)."""
    sock = socket.socket(fileno=fd)
    try:
        try:
            sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, RCVBUF)  # root: past rmem_max
        except OSError:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)
    finally:
        sock.detach()  # the fd stays fnfqueue's


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m imload.faults.nfqueue",
                                     description="imload's userspace netem on one NFQUEUE")
    parser.add_argument("--queue", type=int, required=True, help="the NFQUEUE number")
    parser.add_argument("--shape", required=True, help="the fault's Shape as JSON")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--counts", type=Path, help="where to write the counts (JSON)")
    parser.add_argument("--label", default="", help="what ps shows of it (imload's "
                        "emulators.py: the namespace, fault and direction); unused")
    parser.add_argument("--resend", action="store_true",
                        help="drop a delayed packet at once and send its bytes when due "
                             "through the raw socket (upstream: the sender's TCP small "
                             "queues would otherwise wait for the held packets)")
    return parser.parse_args(argv)


def shape_from(text: str) -> Shape:
    """The Shape in ``text`` (JSON); ValueError saying what is wrong."""
    try:
        fields = json.loads(text)
        if not isinstance(fields, dict):
            raise ValueError("not a JSON object")
        return Shape(**fields)
    except (ValueError, TypeError) as e:
        raise ValueError(f"--shape is a JSON object of Shape's fields: {e}") from None


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    try:
        emulation = Emulation(shape_from(args.shape), args.seed)
    except ValueError as e:
        print(f"imload nfqueue: {e}", file=sys.stderr)
        return 2
    try:
        import fnfqueue
        conn = fnfqueue.Connection(packet_size=BUFFER)
        _grow_receive_buffer(conn._conn.fd)
        queue = conn.bind(args.queue)
        queue.set_mode(fnfqueue.MAX_PAYLOAD, fnfqueue.COPY_PACKET)
        queue.set_maxlen(MAXLEN)
        queue.fail_open = True
        raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_MARK, COPY_MARK)
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    except (ImportError, OSError) as e:
        print(f"imload nfqueue: queue {args.queue} cannot be read here: {e}", file=sys.stderr)
        return 2
    emulator = Emulator(emulation, conn, raw, resend=args.resend)

    def save() -> None:
        if args.counts is not None:
            tmp = args.counts.with_suffix(".tmp")
            tmp.write_text(json.dumps(emulator.counts) + "\n")
            os.replace(tmp, args.counts)

    def stop(signum: int, frame: FrameType | None) -> None:
        emulator.stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    receiver = threading.Thread(target=emulator.receive, name="nfqueue", daemon=True)
    receiver.start()
    save()  # the parent's sign that the queue is bound
    emulator.run(save)
    conn.close()
    receiver.join(timeout=2.0)
    save()
    print(json.dumps(emulator.counts), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
