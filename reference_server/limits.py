"""Request limits per user and per device, and failed logins per address: token buckets
and counters in the store, so every node shares them and a reconnect refills nothing.

Every request of a logged-in device draws its type's weight (``WEIGHTS``, in sends) from
two buckets: its user's (``--user-rate`` tokens per second, ``--user-burst`` deep) and its
device's (``--device-rate``, ``--device-burst``). A request either bucket cannot pay is
answered ``error rate_limited`` with ``retry_after_ms`` (when both will hold its weight)
and not applied; nothing is drawn. The buckets are hashes in Redis written by one Lua
guard (scripts.py, the keys in store.py's table) that expire once full, so an idle device
leaves nothing behind.

Cost: a pipelined ``send`` or ``ack`` (inflight.py) runs the guard inside its own script,
no extra round trip; a ``ping``'s draw is pipelined the same way, and a ``sync``'s made
while its inbox is read (sync.py); every other request makes one store round trip
(``Limiter.take``) before its handler. The buckets stay out of the append-only file (no
fsync). When the store cannot be reached the guard is skipped (the request then fails on
its own if it needs the store; a ping is still answered).

Failed logins: a login whose token fails verification counts against its source address
(``rl:ip:<addr>``; behind a proxy named in ``--trusted-proxies``, the client's, from its
``X-Forwarded-For``: client_address.py); once ``--login-fails`` failures fall in one window of
``--login-fail-window-s`` from the first, every login from the address (a valid token
too) is refused before its token is looked at, ``error rate_limited`` with
``retry_after_ms`` (the window's rest) and a close with 4029, until the window ends.

The bug modes ``per-connection-limits`` (the limit before issue #15: an in-process send
bucket per connection, which a reconnect refills; nothing else limited) and
``no-login-limit`` (failures neither counted nor refused) keep the old behaviour.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from reference_server.admission import TokenBucket
from reference_server.store import Limit, RateLimited, StoreError

if TYPE_CHECKING:
    from reference_server.config import Config
    from reference_server.store import Store

# What a request weighs, in sends. Most requests make one small store call and weigh
# one; those that read a list back (up to 512 KiB for a sync) weigh five, and so does an
# op: rare in a chat, it may change a group (every member's inbox), and the node answers
# it only once it is durable, so a flood of them is slow enough that a lighter weight
# would let one device hold the store's fsyncs.
WEIGHTS: dict[str, int] = {
    "send": 1, "ack": 1, "read": 1, "ping": 1, "op": 5, "sync": 5, "reads": 5, "state": 5,
}


class Limiter:
    """One connection's draws on its user's and device's buckets (``bind`` at login)."""

    def __init__(self, config: Config, store: Store) -> None:
        self._store = store
        self._rates = [config.user_rate, config.user_burst, config.device_rate,
                       config.device_burst]
        self._tails: dict[str, Limit] = {}
        # the per-connection-limits bug mode: sends only, from a bucket of this connection
        self._connection = TokenBucket(config.device_rate, config.device_burst) \
            if config.bugs.has("per-connection-limits") else None

    def bind(self, user: str, device: str) -> None:
        keys = [f"rl:u:{user}", f"rl:d:{user}:{device}"]
        self._tails = {t: (keys, [w, *self._rates]) for t, w in WEIGHTS.items()}

    def tail(self, t: str) -> Limit | None:
        """The guard's keys and arguments for a request of type ``t`` whose own script
        draws its weight (inflight.py); None when requests are not limited that way."""
        return None if self._connection is not None else self._tails[t]

    async def take(self, t: str) -> None:
        """Draw a request's weight before it is handled; RateLimited when refused."""
        if self._connection is not None:
            if t == "send" and not self._connection.take():
                raise RateLimited(max(1, math.ceil(self._connection.wait_s() * 1000)),
                                  "connection")
            return
        tail = self._tails.get(t)
        if tail is None:
            return  # not logged in (the login itself is limited per address)
        try:
            await self._store.take(tail)
        except StoreError:
            return  # no store, no limit: a request that needs the store fails on its own


def refusal(t: str, e: RateLimited) -> str:
    """The ``msg`` of the ``rate_limited`` error answering a request of type ``t``."""
    return f"{t}: over this {e.bucket}'s request limit (docs/protocol.md, \"Limits\"); " \
           f"retry in {e.wait_ms} ms"


async def login_blocked(config: Config, store: Store, addr: str) -> int:
    """0 when ``addr`` may log in, else the ms until its failed-login window ends."""
    if config.bugs.has("no-login-limit"):
        return 0
    try:
        return await store.login_gate(addr, config.login_fails)
    except StoreError:
        return 0  # the login itself needs the store and fails on its own


async def login_failed(config: Config, store: Store, addr: str) -> None:
    """Count a failed login against ``addr``."""
    if config.bugs.has("no-login-limit"):
        return
    try:
        await store.login_failed(addr, math.ceil(config.login_fail_window_s * 1000))
    except StoreError:
        pass  # a failure the store did not count: the token was refused all the same
