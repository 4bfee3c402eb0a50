"""Who a connection's client is, when the node sits behind a reverse proxy: the address the
failed-login limit counts against (limits.py) and the one log lines name.

Without ``--trusted-proxies`` (the default) the client is the TCP peer, and a
``X-Forwarded-For`` header is ignored: anyone can write one. With it (a comma list of
addresses and CIDR blocks), a connection whose peer is one of those proxies names its
client by the header instead: the right-most address in it that is not itself a trusted
proxy (each proxy appends the address it saw, so everything right of the client was
written by a proxy one trusts, and everything left of it by the client, who may lie). A
header that cannot be read up to that address (no address, a word, a port, garbage) leaves
the peer as the client: never an error. Several ``X-Forwarded-For`` lines are one list, in
order (RFC 9110, 5.3). Addresses are compared and named in their canonical form
(``ipaddress``), an IPv4-mapped IPv6 peer as its IPv4 address.

Pure: no sockets; session.py hands in the peer and the handshake's header lines.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from websockets.http11 import Request

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_proxies(text: str) -> tuple[Network, ...]:
    """``--trusted-proxies``: addresses and CIDR blocks, comma-separated ('' for none);
    ValueError with a one-line reason for anything else."""
    found: list[Network] = []
    for part in text.split(","):
        item = part.strip()
        if not item:
            continue
        try:
            found.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ValueError(f"{item!r} is not an IP address or CIDR block "
                             "(e.g. 10.0.0.5, 10.0.0.0/8, ::1)") from None
    return tuple(found)


def _address(text: str) -> Address | None:
    try:
        ip = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def _trusted(ip: Address, proxies: Sequence[Network]) -> bool:
    return any(ip.version == net.version and ip in net for net in proxies)


def client_address(peer: str, forwarded: Sequence[str], proxies: Sequence[Network]) -> str:
    """The client's address: ``peer`` (the TCP peer's host) unless it is a trusted proxy
    and ``forwarded`` (the ``X-Forwarded-For`` lines, in order) names the client."""
    ip = _address(peer)
    if ip is None:
        return peer  # not an address at all (a unix socket, "?"): nothing to look up
    if not proxies or not forwarded or not _trusted(ip, proxies):
        return str(ip)
    hops = [hop.strip() for line in forwarded for hop in line.split(",")]
    hops = [hop for hop in hops if hop]  # empty list elements are allowed (RFC 9110, 5.6.1)
    for hop in reversed(hops):
        found = _address(hop)
        if found is None:
            return str(ip)  # unreadable before the client was found: the peer
        if not _trusted(found, proxies):
            return str(found)
    return str(_address(hops[0])) if hops else str(ip)  # every hop a proxy: the first


def forwarded_for(request: Request | None, proxies: Sequence[Network]) -> list[str]:
    """The ``X-Forwarded-For`` lines of a handshake, when some proxy is trusted (else none:
    the header is not even read)."""
    if not proxies or request is None:
        return []
    return request.headers.get_all("X-Forwarded-For")


def name_peer(remote: tuple[object, ...] | None, forwarded: Sequence[str],
              proxies: Sequence[Network]) -> tuple[str, str]:
    """(the name log lines give the connection, the client's address) for a socket's
    ``remote_address``: ``host:port`` and its host, or ``client via host:port`` and the
    client when a trusted proxy named another."""
    if not remote:
        return "?:?", "?"
    host, port = str(remote[0]), remote[1] if len(remote) > 1 else "?"
    addr = client_address(host, forwarded, proxies)
    ip = _address(host)
    seen = str(ip) if ip is not None else host
    return (f"{host}:{port}" if addr == seen else f"{addr} via {host}:{port}"), addr
