"""The target files of an XMPP cluster (Prosody, ejabberd): one per protocol it speaks.

Every XMPP backend writes ``DIR/target-xmpp.toml`` (WebSocket through the node's proxy
``nN``) and ``DIR/target-xmpp-tcp.toml`` (TCP with STARTTLS through ``nN-c2s``, trusting
``DIR/ca.pem``); ``DIR/target.toml`` is the one the cluster was started for. The
target's ``[xmpp]`` / ``[xmpp-tcp]`` table holds the adapter's options, and numbering
is declared ``seq = "opaque"`` (an archive's ids are labels; a user's inbox is numbered
by the adapter).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from imload.cluster.processes import ClusterError
from imload.cluster.target import NodeSpec, Target, write_target

C2S_PROXY = "-c2s"  # the Toxiproxy proxy in front of a node's c2s port: "n1-c2s"
PROTOCOL_FILES = {"xmpp": "target-xmpp.toml", "xmpp-tcp": "target-xmpp-tcp.toml"}


def check_protocol(backend: str, protocol: str) -> str:
    """``protocol`` if an XMPP backend can write a target in it; ClusterError otherwise."""
    if protocol not in PROTOCOL_FILES:
        raise ClusterError(f"the {backend} backend speaks {', '.join(PROTOCOL_FILES)}; "
                           f"got protocol={protocol!r}")
    return protocol


def xmpp_target(cluster: Any, protocol: str, c2s_proxy_port: Callable[[str], int | None],
                c2s_port: Callable[[str], int | None],
                node_extra: Callable[[str], dict[str, Any]] = lambda name: {}) -> Target:
    """The target of ``cluster`` (a ``SupervisedCluster`` with ``domain``, ``smacks``,
    ``secret``) in ``protocol``; the ports of each node's c2s listener and its proxy come
    from the two functions."""
    tcp = protocol == "xmpp-tcp"
    host = cluster.host
    nodes = [NodeSpec(
        name=name, url=(f"tcp://{host}:{c2s_proxy_port(name)}" if tcp
                        else cluster.node_url(name)),
        proxy=f"{name}{C2S_PROXY}" if tcp else name, **cluster._commands(name),
        extra={"direct_url": cluster.node_url(name, direct=True),
               "c2s": f"{host}:{c2s_port(name)}", **node_extra(name)},
    ) for name in cluster.node_names]
    options = {"domain": cluster.domain, "register": True,
               "muc": f"conference.{cluster.domain}", "smacks": cluster.smacks}
    target = Target(name=cluster.backend, secret=cluster.secret, nodes=nodes,
                    toxiproxy_api=cluster.toxiproxy_api,
                    ca=cluster.directory / "ca.pem" if tcp else None,
                    extra={"kind": cluster.backend, "protocol": protocol, protocol: options},
                    path=cluster.target_path)
    target.numbering = {"seq": "opaque", "useq": "contiguous"}
    return target


def write_protocol_targets(cluster: Any) -> None:
    """``DIR/target-<protocol>.toml`` for every protocol (``cluster.target(protocol)``)."""
    for protocol, file in PROTOCOL_FILES.items():
        write_target(cluster.target(protocol), cluster.directory / file)
