"""``netem``: packet faults on the link between the devices and a node (or a profile's proxy).

Toxiproxy shapes TCP streams; a ``netem`` fault drops, delays, reorders, duplicates or
corrupts the packets themselves, so TCP's own retransmissions, head-of-line blocking and
RTO backoff happen in the drill. The devices run in the run's network namespace
(``imload/faults/netns.py``); the fault is rules on its veth pair for the packets to and
from the target's port (``packet_rules.py``), so ``target = "n1.slow"`` shapes one
profile's devices only. Loss (independent, or in Gilbert bursts) and rate work on any
kernel with nf_tables and htb; delay, jitter, reorder, duplicate and corrupt are made by
the kernel's netem qdisc or, on a kernel without it, by imload's userspace emulator
(``packet_emulator.py``, ``nfqueue.py``: iptables NFQUEUE rules and fnfqueue); a drill
asking for them where neither works is refused, naming what is missing.
"""

from __future__ import annotations

from typing import Any

from imload.faults.kinds.base import (
    NUMBER,
    STRING,
    FaultContext,
    FaultError,
    FaultKind,
    FaultSpec,
    NodeMeans,
    Option,
    register,
)
from imload.faults.netns import NO_NETEM, NetError
from imload.faults.packet_rules import DISTRIBUTIONS, STREAMS, LinkFault, Shape, gilbert


def percent(key: str, meaning: str) -> Option:
    return Option(key, meaning, type=NUMBER, unit="%", maximum=100)


SHAPE_KEYS = ("loss", "loss_burst", "delay", "jitter", "distribution", "reorder", "duplicate",
              "corrupt", "rate")


def shape_of(spec: FaultSpec) -> Shape:
    """The fault's ``Shape`` from its keys."""
    a: dict[str, Any] = spec.attributes
    return Shape(**{k: a[k] for k in SHAPE_KEYS if k in a})


@register
class Netem(FaultKind):
    name = "netem"
    does = ("drops (independently or in bursts), delays, reorders, duplicates or corrupts "
            "the packets between the devices and the node; limits their rate")
    needs = ("a local cluster, root; delay and the rest: the kernel's netem, or iptables' "
             "NFQUEUE and fnfqueue (imload's userspace emulator)")
    options = (
        percent("loss", "% of packets lost (the mean, with `loss_burst`)"),
        Option("loss_burst", "mean burst of lost packets, in packets (Gilbert model); "
               "unset: independent losses", type=NUMBER, unit="packets", minimum=1),
        Option("rate", "the link's rate, kbit/s", unit="kbit/s", minimum=1),
        Option("delay", "ms added to every packet", unit="ms"),
        Option("jitter", "ms of variation of the delay", unit="ms"),
        Option("distribution", "of the delay's variation: "
               + ", ".join(DISTRIBUTIONS), type=STRING, choices=DISTRIBUTIONS),
        percent("reorder", "% of packets sent at once, ahead of the delayed ones"),
        percent("duplicate", "% of packets sent twice"),
        percent("corrupt", "% of packets with one bit flipped"),
        Option("stream", "upstream (device to node), downstream or both", type=STRING,
               default="both", choices=tuple(STREAMS), spec_field="stream"),
    )

    def validate(self, spec: FaultSpec) -> None:
        a = spec.attributes
        if not any(k in a and (k != "loss" or a[k] > 0) for k in SHAPE_KEYS):
            raise ValueError("netem: give at least one of " + ", ".join(SHAPE_KEYS))
        for key, needs in (("jitter", "delay"), ("distribution", "jitter"),
                           ("reorder", "delay"), ("loss_burst", "loss")):
            if key in a and needs not in a:
                raise ValueError(f"netem: {key} needs {needs}")
        if "loss_burst" in a:
            try:
                gilbert(a["loss"], a["loss_burst"])
            except ValueError as e:
                raise ValueError(f"netem: {e}") from None

    def missing(self, spec: FaultSpec, node: NodeMeans, ctx: FaultContext) -> str | None:
        net = ctx.network
        if net is None:
            return (f"netem on {spec.target} needs target = \"local\" (the devices run in a "
                    "network namespace whose veth reaches the local cluster)")
        if spec.target not in net.ports:
            return f"netem on {spec.target}: no port of its proxy is known"
        shape = shape_of(spec)
        asked = shape.asked()
        if asked and not net.netem and net.emulator is not None:
            return (f"netem on {spec.target}: {', '.join(asked)} need{'s' * (len(asked) == 1)} "
                    f"{NO_NETEM}, or imload's userspace emulator, which needs "
                    f"{net.emulator}; loss, loss_burst and rate work without them")
        if shape.loss > 0 and not net.netem and not net.nft:
            return (f"netem on {spec.target}: loss needs nf_tables' netdev ingress hook with "
                    "numgen and dynamic sets (CONFIG_NF_TABLES_NETDEV, CONFIG_NFT_NUMGEN, "
                    "CONFIG_NFT_DYNSET), or the kernel's netem")
        return None

    def start(self, spec: FaultSpec, fault_id: str, node: NodeMeans, ctx: FaultContext) -> None:
        net = ctx.network
        why = self.missing(spec, node, ctx)
        if why is not None or net is None:
            raise FaultError(why or "no network")
        fault = LinkFault(fault_id, net.host_ip, net.ports[spec.target], spec.stream,
                          shape_of(spec))
        try:
            net.add(fault)
        except NetError as e:
            raise FaultError(str(e)) from None

    def stop(self, spec: FaultSpec, fault_id: str, node: NodeMeans, ctx: FaultContext) -> None:
        if ctx.network is None:
            return
        try:
            ctx.network.remove(fault_id)
        except NetError as e:
            raise FaultError(str(e)) from None
