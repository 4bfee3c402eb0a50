"""What bounds a group's fan-out: the size limit and the budget of inbox writes per sender,
so a group cannot amplify one user's traffic without bound (``GroupRules``, used by
groups.py for the ops and by the session for group messages).

A message to a group of n members is n inbox writes (and n pushes); a membership change
too (its event reaches every member). Each user has one token bucket of inbox writes in
the store (``u:<user>:fanout``), shared by every device, connection and node, so neither
a reconnect nor another node refills it: ``--fanout-rate`` writes per second,
``--fanout-burst`` deep. A group ``send`` or group op costs its recipients (a group
larger than the bucket costs the whole bucket); over the budget it is answered
``rate_limited`` with ``retry_after_ms`` and nothing is stored. Direct messages cost
nothing here (two writes each: the per-connection send bucket bounds them).

The bucket is one Lua script on the store's clock (``TIME``), so nodes whose clocks
disagree (``--clock-skew-ms``) share one budget. The ``no-fanout-limit`` bug mode skips it.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import redis.asyncio as aioredis
from redis.exceptions import NoScriptError, RedisError

from reference_server.store import StoreError

if TYPE_CHECKING:
    from reference_server.config import Config

# KEYS[1] the user's bucket (hash: tokens, at ms); ARGV[1] rate (writes/s), ARGV[2] burst,
# ARGV[3] cost. Returns 0 when taken, else the ms until the cost will be there.
FANOUT_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local cost = math.min(tonumber(ARGV[3]), burst)
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate / 1000)
local wait = 0
if tokens >= cost then
  tokens = tokens - cost
else
  wait = math.max(1, math.ceil((cost - tokens) * 1000 / rate))
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', now)
redis.call('PEXPIRE', KEYS[1], math.ceil(burst * 1000 / rate) + 1000)
return wait
"""
_SHA = hashlib.sha1(FANOUT_LUA.encode()).hexdigest()


class Fanout:
    """A node's fan-out rule: ``rate`` inbox writes per second per user, ``burst`` deep;
    ``off`` for the bug mode no-fanout-limit."""

    def __init__(self, rate: float, burst: int, off: bool = False) -> None:
        self.rate, self.burst, self.off = rate, burst, off

    def refusal(self, writes: int) -> str:
        """Why a request of ``writes`` inbox writes was refused (the error's text)."""
        return (f"over the fan-out budget of {self.rate:g} inbox writes/s per user "
                f"(burst {self.burst}; this one: {writes} members)")

    async def charge(self, redis: aioredis.Redis, user: str, writes: int) -> int:
        """Take ``writes`` from ``user``'s bucket: 0 when taken, else the ms to wait
        (nothing taken). StoreError when the store fails."""
        if self.off or writes <= 0:
            return 0
        keys, args = [f"u:{user}:fanout"], [self.rate, self.burst, writes]
        try:
            try:
                wait = await redis.evalsha(_SHA, 1, *keys, *args)
            except NoScriptError:
                wait = await redis.eval(FANOUT_LUA, 1, *keys, *args)
        except (RedisError, OSError) as e:
            raise StoreError(f"store failed to charge the fan-out budget: "
                             f"{type(e).__name__}: {e}") from None
        return max(0, math.ceil(float(wait)))


@dataclass(frozen=True)
class GroupRules:
    """A node's group rules: the size limit, the fan-out budget, and ``open`` for the bug
    mode open-groups (no consent, owner or size rule)."""

    max_size: int
    fanout: Fanout
    open: bool = False

    @classmethod
    def of(cls, config: Config) -> GroupRules:
        bugs = config.bugs
        return cls(config.max_group_size,
                   Fanout(config.fanout_rate, config.fanout_burst,
                          off=bugs.has("no-fanout-limit")),
                   open=bugs.has("open-groups"))

    def too_big(self, kind: str, conv: str, members: list[str], recipients: list[str]
                ) -> str | None:
        """Why the op would make the group larger than allowed (None: it does not)."""
        after = len(recipients)
        if self.open or kind not in ("group_create", "group_add") or after <= self.max_size \
                or after == len(members):  # adding a member already there
            return None
        return (f"{conv} would have {after} members, over the limit of {self.max_size} "
                "(--max-group-size)")
