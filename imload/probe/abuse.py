"""Abuse: what a client can make the node hold or send. An unauthenticated socket, one that
sends its handshake byte by byte (slowloris), a reply to a big inbox, a client that stops
reading while replies pile up, and one device logging in again and again: each must cost
the node a bounded amount, for a bounded time, and leave it serving.

Traffic: the biggest check stores 20 messages of 60 KB in the probe's own accounts
(``sync_bytes``); ``slow_reader`` stores 9 more, asks for them ``SLOW_READER_SYNCS`` times
without reading and reads at most ``SLOW_READER_BUDGET`` bytes back (a vulnerable node
holds up to 24 MB queued for it meanwhile); ``takeover_storm`` opens ``STORM`` connections.
"""

from __future__ import annotations

import time

from websockets.exceptions import ConnectionClosed, InvalidHandshake

from imload.probe.base import FAIL, NA, PASS, Check, Finding, Probe, ProbeError
from imload.probe.link import Link
from imload.probe.raw import Closed, RawSocket
from imload.protocol import direct_conv

MAX_REPLY = 1 << 20  # a reply bigger than this breaks clients that keep the usual limit
SLOW_BYTE_S = 0.2  # slowloris: one byte of the handshake this often
SLOW_READER_MSGS = 9  # of 60 KB: a sync answers about 0.5 MB
SLOW_READER_SYNCS = 48  # asked for without reading: 24 MB if the node queues them all
# bytes read back before the check calls it unbounded: more than the kernel holds for one
# socket (a 4 MiB send buffer at most, by Linux's default tcp_wmem) and a reply in flight
SLOW_READER_BUDGET = 8 << 20
SLOW_READER_SETTLE_S = 3.0  # not reading, while the node handles the syncs
STORM = 20  # logins of one device in a row


def login_deadline(p: Probe) -> Finding:
    started = time.monotonic()
    with p.link() as link:
        try:
            code = link.closed_with(p.slow_s)
        except TimeoutError:
            return Finding(FAIL, f"a socket that never logged in was still open after "
                                 f"{p.slow_s:g} s")
    return Finding(PASS, f"closed ({code}) after {time.monotonic() - started:.1f} s")


def _store_big(p: Probe, link: Link, conv: str, n: int, tag: str) -> Finding | None:
    for i in range(n):
        reply = link.request("send", cmid=f"probe-{tag}-{i}", conv=conv, body="x" * 60_000)
        if reply.get("t") != "send_ack":
            return Finding(NA, f"the target did not store a 60 KB message: {reply}")
    return None


def sync_bytes(p: Probe) -> Finding:
    a, b, _ = p.users
    with p.logged_in(a) as link:
        refused = _store_big(p, link, direct_conv(a, b), 20, "big")
        if refused:
            return refused
    with p.logged_in(b) as link:
        link.request("sync", after=0, limit=200)
        biggest = max(link.sizes)
    if biggest > MAX_REPLY:
        return Finding(FAIL, f"one sync reply of {biggest:,} bytes for 20 messages of 60 KB")
    return Finding(PASS, f"largest reply {biggest:,} bytes")


def slowloris(p: Probe) -> Finding:
    """A handshake that never ends, one byte every ``SLOW_BYTE_S``: closed in ``slow_s``."""
    with RawSocket(p.url, p.ca) as raw:
        endless = raw.upgrade_request()[:-2] + b"X-Probe-Slow: " + b"a" * 100_000
        started = time.monotonic()
        for i in range(len(endless)):
            took = time.monotonic() - started
            if took > p.slow_s:
                return Finding(FAIL, f"a handshake sent one byte every {SLOW_BYTE_S:g} s "
                                     f"was still open after {took:.1f} s ({i} bytes)")
            try:
                raw.sock.sendall(endless[i:i + 1])
            except OSError:
                break
            if raw.closed_within(SLOW_BYTE_S):
                break
    return Finding(PASS, f"closed after {time.monotonic() - started:.1f} s")


def slow_reader(p: Probe) -> Finding:
    """``b`` stores about 0.5 MB for ``a``; ``a``, on a socket with a tiny receive buffer,
    asks for it ``SLOW_READER_SYNCS`` times without reading, waits, then reads: a sound
    node has shed it (closed) long before ``SLOW_READER_BUDGET`` bytes come back."""
    a, b, _ = p.users
    with p.logged_in(b) as link:
        refused = _store_big(p, link, direct_conv(a, b), SLOW_READER_MSGS, "slow")
        if refused:
            return refused
    with RawSocket(p.url, p.ca, rcvbuf=4096, timeout_s=max(p.slow_s, 5.0)) as raw:
        raw.upgrade()
        raw.send_frames([{"t": "login", "rid": 1, "token": p.token(a, device="probe-slow")}])
        if raw.read_json().get("t") != "login_ok":
            raise ProbeError("the target refused the slow reader's login")
        raw.send_frames([{"t": "sync", "rid": 2 + i, "after": 0, "limit": 200}
                         for i in range(SLOW_READER_SYNCS)])
        time.sleep(SLOW_READER_SETTLE_S)  # the reader stops reading; the node works
        read = 0
        try:
            while read <= SLOW_READER_BUDGET:
                read += len(raw.read_frame()[1])
        except Closed as e:
            return Finding(PASS, f"shed: closed ({e.code}) after {read:,} bytes came back "
                                 f"for {SLOW_READER_SYNCS} syncs")
        except OSError as e:
            return Finding(PASS, f"shed: the connection ended ({e}) after {read:,} bytes")
    return Finding(FAIL, f"a reader that stopped reading still got {read:,} bytes of "
                         f"{SLOW_READER_SYNCS} sync replies, no close: the node (or a proxy "
                         "in front of it) queued them for it, unshed")


def takeover_storm(p: Probe) -> Finding:
    """``STORM`` logins of one device in a row: every older session closed, the newest and
    a fresh login of another user served."""
    a, b, _ = p.users
    links: list[Link] = []
    started = time.monotonic()
    try:
        limited = ""
        for _ in range(STORM):
            try:
                links.append(p.logged_in(a, "probe-storm"))
            except (InvalidHandshake, ProbeError) as e:  # limited: fine, judge the rest
                limited = f"; the node refused login {len(links) + 1}: {e}"[:200]
                break
        if len(links) < 2:
            raise ProbeError(f"fewer than two logins of the storm went through{limited}")
        took = time.monotonic() - started
        deadline = time.monotonic() + min(p.slow_s, 5.0)
        still_open = 0
        codes: set[int | None] = set()
        for link in links[:-1]:
            try:
                codes.add(link.closed_with(max(0.01, deadline - time.monotonic())))
            except TimeoutError:
                still_open += 1
        if still_open:
            return Finding(FAIL, f"{still_open} of {len(links) - 1} older sessions of one "
                                 f"device still open {min(p.slow_s, 5.0):g} s after "
                                 f"{len(links)} logins in {took:.2f} s")
        newest = links[-1].request("ping").get("t")
    except ConnectionClosed as e:
        return Finding(FAIL, f"the newest session of the storm was closed: {e}")
    finally:
        for link in links:
            link.ws.close()
    with p.logged_in(b) as other:
        fresh = other.request("ping").get("t")
    if newest != "pong" or fresh != "pong":
        return Finding(FAIL, f"after the storm the newest session answered {newest}, "
                             f"a fresh login {fresh}")
    return Finding(PASS, f"{len(links)} logins in {took:.2f} s: the {len(links) - 1} older "
                         f"sessions closed ({', '.join(map(str, sorted(codes, key=str)))})"
                         f"{limited}")


ABUSE_CHECKS: tuple[Check, ...] = (
    Check("abuse.login_deadline", "holds a socket that never logs in", login_deadline),
    Check("abuse.sync_bytes", "answers a sync with one reply of any size (a big inbox "
          "breaks the client)", sync_bytes),
    Check("abuse.slowloris", "holds a socket that sends its handshake one byte at a time",
          slowloris),
    Check("abuse.slow_reader", "queues replies without bound for a client that stopped "
          "reading", slow_reader),
    Check("abuse.takeover_storm", "keeps the older sessions of a device open, or stops "
          "serving, when the device logs in again and again", takeover_storm),
)
