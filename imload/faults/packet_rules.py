"""Packet faults as rules: what ``tc`` and ``nft`` are told, made without I/O.

A ``netem`` fault (``imload/faults/kinds/netem.py``) shapes the packets between the devices'
network namespace and the node's port (``imload/faults/netns.py`` makes the namespace and
runs these commands). Each direction has its own place on the veth pair:

| direction | loss without netem (nft, ingress) | qdisc (htb class, netem leaf; egress) |
|---|---|---|
| upstream (device to node) | the host end | the namespace end |
| downstream (node to device) | the namespace end | the host end |

Loss made by nft is made at the receiving end's ingress, after the sender's stack let the
packet go: the sender sees what it sees on a real network (nothing), so TCP retransmits on
its timers. A drop in the sender's own OUTPUT hook would instead fail the send locally
(``-EPERM``), which TCP retries at once: not a loss.

Bursty loss is the simple Gilbert model (two states; everything lost in the bad one): from
the good state a packet moves to the bad one with probability ``p``, from the bad state it
moves back with probability ``r``. The mean loss is ``p / (p + r)`` and the mean burst
``1 / r`` packets; ``loss`` and ``loss_burst`` give them, ``gilbert`` the two probabilities.
netem says the same as ``loss gemodel p r``; nft with a one-element dynamic set holding the
state (``add @bad``, ``delete @bad`` from the packet path).

Without the kernel's netem, delay, jitter, reorder, duplicate and corrupt are made by
imload's userspace emulator (``nfqueue.py``); ``nfqueue_rule`` is the iptables rule in the
namespace sending a fault's packets to its queue (upstream in OUTPUT, downstream in INPUT).

Every rule set is rendered whole from the faults that are on: applying it replaces the
last one (nft's ``table ... {}; delete table ...`` is atomic; the qdisc tree is rebuilt).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

UP, DOWN = "upstream", "downstream"
STREAMS = {UP: (UP,), DOWN: (DOWN,), "both": (UP, DOWN)}
DISTRIBUTIONS = ("normal", "pareto", "paretonormal", "uniform")
SCALE = 10_000  # nft's random numbers: probabilities in 1/10 000
NETEM_ONLY = ("delay", "jitter", "distribution", "reorder", "duplicate", "corrupt")
NO_RATE = "10gbit"  # an htb class without a rate of its own: no limit a drill can reach


@dataclass(frozen=True)
class Shape:
    """What one fault does to its packets (percentages 0-100; None: not asked)."""

    loss: float = 0.0                 # % of packets lost (the mean, with loss_burst)
    loss_burst: float | None = None   # mean burst of lost packets; None: independent losses
    delay: float | None = None        # ms
    jitter: float | None = None       # ms
    distribution: str | None = None   # of the delay: normal, pareto, paretonormal, uniform
    reorder: float | None = None      # % sent at once, ahead of the delayed ones
    duplicate: float | None = None    # %
    corrupt: float | None = None      # % with one bit flipped
    rate: int | None = None           # kbit/s

    def asked(self) -> list[str]:
        """The netem-only keys this shape sets."""
        return [k for k in NETEM_ONLY if getattr(self, k) is not None]


@dataclass(frozen=True)
class LinkFault:
    """One fault on the link to one port of the node host (a node's or a profile's proxy)."""

    fault_id: str
    host: str
    port: int
    stream: str  # upstream, downstream or both
    shape: Shape

    @property
    def chain(self) -> str:
        """The fault's nft chain and set name (nft identifiers: letters, digits, _)."""
        return "f_" + re.sub(r"[^A-Za-z0-9_]", "_", self.fault_id)

    def goes(self, direction: str) -> bool:
        return direction in STREAMS[self.stream]


def gilbert(loss: float, burst: float) -> tuple[float, float]:
    """(p, r) of the simple Gilbert model with mean loss ``loss`` % and mean burst ``burst``
    packets; ValueError when no such model exists (p would exceed 1)."""
    if not 0 < loss < 100 or burst < 1:
        raise ValueError(f"loss_burst needs 0 < loss < 100 and loss_burst >= 1, got loss "
                         f"{loss:g}, loss_burst {burst:g}")
    r = 1.0 / burst
    share = loss / 100.0
    p = share * r / (1.0 - share)
    if p > 1.0:
        longest = share / (1 - share)  # p <= 1 needs burst >= loss / (1 - loss)
        raise ValueError(f"loss {loss:g} % in bursts of {burst:g} packet(s) on average cannot "
                         f"be made (the good state would have to lose more than every "
                         f"packet); make loss_burst at least {longest:.2f}")
    return p, r


def _chance(probability: float) -> int:
    return max(0, min(SCALE, round(probability * SCALE)))


def nft_loss_rules(fault: LinkFault) -> list[str]:
    """The rules of the fault's own chain: its loss, independent or in Gilbert bursts."""
    shape = fault.shape
    if shape.loss <= 0:
        return []
    if shape.loss_burst is None:
        chance = _chance(shape.loss / 100)
        # numgen's numbers are 0..SCALE-1: "< SCALE" is out of nft's range; every one is lost
        return ["drop"] if chance >= SCALE else [f"numgen random mod {SCALE} < {chance} drop"]
    p, r = gilbert(shape.loss, shape.loss_burst)
    bad = f"@{fault.chain}"
    return [f"meta l4proto {bad} numgen random mod {SCALE} < {_chance(r)} "
            f"delete {bad} {{ meta l4proto }} return",          # the burst ends: this one passes
            f"meta l4proto {bad} drop",                          # in the burst
            f"numgen random mod {SCALE} < {_chance(p)} add {bad} {{ meta l4proto }} drop"]


def match(fault: LinkFault, direction: str) -> str:
    """nft's match for the fault's packets going ``direction``."""
    if direction == UP:
        return f"ip daddr {fault.host} tcp dport {fault.port}"
    return f"ip saddr {fault.host} tcp sport {fault.port}"


def nft_remove(table: str) -> str:
    """The script removing netdev table ``table`` (nothing when it is not there)."""
    return f"table netdev {table} {{}}\ndelete table netdev {table}\n"


def _lossy(faults: Sequence[LinkFault], direction: str, netem: bool) -> list[LinkFault]:
    return [] if netem else [f for f in faults if f.goes(direction) and f.shape.loss > 0]


def nft_script(table: str, device: str, direction: str, faults: Sequence[LinkFault],
               netem: bool, before: Sequence[LinkFault] = ()) -> str:
    """The netdev table dropping ``direction``'s packets at ``device``'s ingress, moved from
    what ``before`` made to what ``faults`` make ('' when that is the same; with netem,
    which makes the loss, always ''). The table and its ingress chain stay once made (the
    chain is emptied, the faults' chains replaced, in one transaction): removing a hook
    makes the kernel drop every packet queued to userspace in its namespace, those the
    emulator holds too (``nf_queue_nf_hook_drop``); ``nft_remove`` at the end."""
    lossy, old = _lossy(faults, direction, netem), _lossy(before, direction, netem)
    if lossy == old:
        return ""
    t = f"netdev {table}"
    lines = [f"add table {t}",
             f'add chain {t} ingress {{ type filter hook ingress device "{device}" '
             "priority 0; policy accept; }",
             f"flush chain {t} ingress"]
    for f in old:
        lines += [f"flush chain {t} {f.chain}", f"delete chain {t} {f.chain}"]
        if f.shape.loss_burst is not None:
            lines.append(f"delete set {t} {f.chain}")
    if lossy:
        lines.append(f"table {t} {{")
        for f in lossy:
            if f.shape.loss_burst is not None:
                lines.append(f"  set {f.chain} {{ type inet_proto; flags dynamic; }}")
            lines.append(f"  chain {f.chain} {{")
            lines += [f"    {rule}" for rule in nft_loss_rules(f)]
            lines.append("  }")
        lines.append("}")
    lines += [f"add rule {t} ingress {match(f, direction)} jump {f.chain}" for f in lossy]
    return "\n".join(lines) + "\n"


def netem_args(shape: Shape, netem: bool) -> list[str]:
    """``tc qdisc ... netem`` arguments for the shape; [] when there is nothing for netem
    (without netem in the kernel the loss is nft's, the rest the userspace emulator's)."""
    if not netem:
        return []
    args: list[str] = []
    if shape.delay is not None:
        args += ["delay", f"{shape.delay:g}ms"]
        if shape.jitter is not None:
            args += [f"{shape.jitter:g}ms"]
            if shape.distribution is not None:
                args += ["distribution", shape.distribution]
    if shape.loss > 0:
        if shape.loss_burst is None:
            args += ["loss", "random", f"{shape.loss:g}%"]
        else:
            p, r = gilbert(shape.loss, shape.loss_burst)
            args += ["loss", "gemodel", f"{p * 100:.4g}%", f"{r * 100:.4g}%"]
    for key in ("reorder", "duplicate", "corrupt"):
        value = getattr(shape, key)
        if value is not None:
            args += [key, f"{value:g}%"]
    return ["netem", *args] if args else []


def tc_commands(device: str, direction: str, faults: list[LinkFault],
                netem: bool) -> list[list[str]]:
    """``tc`` argument lists building ``device``'s egress tree for ``direction``: an htb root
    whose unclassified packets pass untouched, one class per fault (its rate), a netem leaf
    when netem has work, a u32 filter sending the fault's packets there. [] when no fault
    needs a qdisc (the caller deletes the root first, always)."""
    shaped = [f for f in faults if f.goes(direction)
              and (f.shape.rate is not None or netem_args(f.shape, netem))]
    if not shaped:
        return []
    field = "dst" if direction == UP else "src"
    port = "dport" if direction == UP else "sport"
    out = [["qdisc", "add", "dev", device, "root", "handle", "1:", "htb"]]
    for i, f in enumerate(shaped, start=1):
        rate = f"{f.shape.rate}kbit" if f.shape.rate is not None else NO_RATE
        out.append(["class", "add", "dev", device, "parent", "1:", "classid", f"1:{i:x}",
                    "htb", "rate", rate, "ceil", rate, "quantum", "1514"])
        leaf = netem_args(f.shape, netem)
        if leaf:
            out.append(["qdisc", "add", "dev", device, "parent", f"1:{i:x}",
                        "handle", f"{i + 0x10:x}:", *leaf])
        out.append(["filter", "add", "dev", device, "parent", "1:", "protocol", "ip",
                    "prio", str(i), "u32", "match", "ip", field, f"{f.host}/32",
                    "match", "ip", port, str(f.port), "0xffff", "flowid", f"1:{i:x}"])
    return out


COPY_MARK = 0x1D8  # the emulator's duplicates carry it; its queue rules skip them
EMULATED = ("delay", "jitter", "distribution", "reorder", "duplicate", "corrupt")


def emulated(shape: Shape) -> dict[str, float | str]:
    """The part of ``shape`` the userspace emulator makes (loss stays nft's, rate htb's);
    {} when there is none."""
    return {k: getattr(shape, k) for k in EMULATED if getattr(shape, k) is not None}


def nfqueue_rule(fault: LinkFault, direction: str, queue: int) -> list[str]:
    """The iptables rule (after ``-A``/``-D``, in the devices' namespace) sending the fault's
    packets going ``direction`` to NFQUEUE ``queue``: upstream as they leave (OUTPUT),
    downstream as they arrive (INPUT). ``--queue-bypass``: without a reader they pass."""
    if direction == UP:
        chain, where = "OUTPUT", ["-d", f"{fault.host}/32", "-p", "tcp", "--dport"]
    else:
        chain, where = "INPUT", ["-s", f"{fault.host}/32", "-p", "tcp", "--sport"]
    return [chain, *where, str(fault.port), "-m", "mark", "!", "--mark", hex(COPY_MARK),
            "-j", "NFQUEUE", "--queue-num", str(queue), "--queue-bypass"]
