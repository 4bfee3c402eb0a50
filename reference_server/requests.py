"""What a request handler may use of the connection it serves, and of the node: small
interfaces, so handlers never reach into a session's or a node's internals.

- ``Requests``: who is logged in, the store, the bug modes, the node's clock and the ways
  to answer. The handlers of ``read``/``reads`` (reads.py), ``op``/``state`` (ops.py)
  and the group ops (groups.py) take one.
- ``Pipeline``: ``Requests`` plus what a send or an ack written without waiting needs
  (inflight.py): the request limits, the calls in flight (``Calls``), the ``send_ack``
  reply.
- ``Dispatcher``: what the ``op-reorder`` bug mode needs (opbatch.py): hand a frame back.
- ``Host``: what a session needs of its node (session.py).
- ``NodeClock``: the node's clock, the wall clock plus its ``--clock-skew-ms``: an object
  the node owns, never a module global.

``Session`` (session.py) implements the first three and ``Node`` (node.py) the fourth;
none of these modules imports session.py or node.py.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from reference_server.bugs import BugSet
    from reference_server.config import Config
    from reference_server.fanout import GroupRules
    from reference_server.limits import Limiter
    from reference_server.member_cache import MemberCache
    from reference_server.pubsub import Fanin
    from reference_server.store import RateLimited, SendResult, Store, StoreError


class NodeClock:
    """A node's clock in ms: the wall clock plus the node's configured skew (nodes that
    disagree about the time, for the clock-skew drills)."""

    def __init__(self, skew_ms: int = 0) -> None:
        self.skew_ms = skew_ms

    def now_ms(self) -> int:
        return int(time.time() * 1000) + self.skew_ms


class Requests(Protocol):
    """A logged-in connection, as a request handler sees it."""

    user: str | None
    device: str | None
    log: logging.Logger
    group_rules: GroupRules  # consent, owner, size and fan-out (fanout.py)

    @property
    def store(self) -> Store: ...

    @property
    def bugs(self) -> BugSet: ...

    def now_ms(self) -> int: ...

    def reply(self, frame: dict[str, Any]) -> None: ...

    def error(self, code: str, msg: str, rid: int | None = None, **extra: Any) -> None: ...

    def bad(self, code: str, msg: str, rid: int | None) -> None: ...


class Calls(Protocol):
    """A connection's store calls in flight (``inflight.Inflight``)."""

    direct: tuple[str, str, str]  # the last direct conversation sent to, and its two users

    def add(self, fut: asyncio.Future[Any], on_reply: Callable[[Any], None], t: str,
            rid: int | None) -> None: ...


class Pipeline(Requests, Protocol):
    """A connection whose sends and acks are written without waiting (inflight.py)."""

    limits: Limiter
    inflight: Calls

    def send_ack(self, rid: int, cmid: str, res: SendResult) -> None: ...

    def store_failed(self, t: str, rid: int | None, e: StoreError) -> None: ...

    def rate_limited(self, t: str, rid: int | None, e: RateLimited) -> None: ...

    def internal_error(self, rid: int | None) -> None: ...


class Dispatcher(Protocol):
    """A connection that can handle a frame it read earlier (opbatch.py)."""

    user: str | None

    async def dispatch(self, frame: dict[str, Any]) -> None: ...


class Host(Protocol):
    """What a session needs of its node. ``register``, ``unregister`` and ``login_done``
    take the session itself (typed ``Any`` here: this module does not import session.py)."""

    config: Config
    log: logging.Logger
    store: Store
    clock: NodeClock
    fanin: Fanin
    bug_rng: random.Random
    member_cache: MemberCache | None
    group_rules: GroupRules

    def register(self, session: Any) -> None: ...

    def unregister(self, session: Any) -> None: ...

    def login_done(self, session: Any) -> None: ...
