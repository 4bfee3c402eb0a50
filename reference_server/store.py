"""The store: every durable effect of a node, in Redis, each request one Lua script or command.

Key layout (all plain keys of one Redis database; names are ``[A-Za-z0-9_.-]``):

| key | type | holds |
| --- | --- | --- |
| ``mid`` | string (counter) | the global message counter; a message id is ``"m<N>"`` |
| ``c:<conv>:seq`` | string (counter) | the conversation's last seq |
| ``u:<user>:useq`` | string (counter) | the user's last inbox position (useq) |
| ``u:<user>:inbox`` | sorted set | the inbox: member = msg JSON (no ``t``), score = useq |
| ``u:<user>:cmids`` | hash | dedup of sends: cmid -> ``"<mid> <seq> <server_ts> <conv>"`` |
| ``u:<user>:acked`` | hash | device -> cursor (highest useq the device acked) |
| ``u:<user>:gen`` | hash | device -> login generation (the newest wins; older get 4001) |

Pub/sub channel ``push:<user>`` carries that user's pushes (``{"t":"msg",...}``, published
from inside the send script, so publication order is useq order) and takeover notices
(``{"t":"kick","device":D,"gen":G}``, published by the login script).

The inbox is never trimmed: the cursor marks what a device holds, the archive stays
(only the ``lose-offline`` bug mode removes entries).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError


class StoreError(RuntimeError):
    """The store could not be reached or refused a request; the client may retry."""


def push_channel(user: str) -> str:
    """The pub/sub channel of ``user``'s pushes and takeover notices."""
    return f"push:{user}"


# KEYS[1] sender's dedup hash, KEYS[2] conversation seq, KEYS[3] global mid counter,
# then per member i (1-based): KEYS[2+2i] useq counter, KEYS[3+2i] inbox.
# ARGV[1] cmid, ARGV[2] conv, ARGV[3] server_ts, ARGV[4] the JSON fields every copy shares
# (",\"conv\":...,\"kind\":\"text\""), ARGV[4+i] member i's push channel.
# Members are a list so a group send uses the same script.
SEND_LUA = """
local prev = redis.call('HGET', KEYS[1], ARGV[1])
if prev then
  local mid, seq, sts, conv = string.match(prev, '^(%S+) (%d+) (%d+) (.*)$')
  return {mid, tonumber(seq), sts, conv, 1}
end
local seq = redis.call('INCR', KEYS[2])
local mid = 'm' .. redis.call('INCR', KEYS[3])
local head = '"mid":"' .. mid .. '","seq":' .. seq .. ',"useq":'
for i = 1, #ARGV - 4 do
  local useq = redis.call('INCR', KEYS[2 + 2 * i])
  local fields = head .. useq .. ARGV[4] .. '}'
  redis.call('ZADD', KEYS[3 + 2 * i], useq, '{' .. fields)
  redis.call('PUBLISH', ARGV[4 + i], '{"t":"msg",' .. fields)
end
redis.call('HSET', KEYS[1], ARGV[1], mid .. ' ' .. seq .. ' ' .. ARGV[3] .. ' ' .. ARGV[2])
return {mid, seq, ARGV[3], ARGV[2], 0}
"""

# KEYS[1] u:<user>:gen, KEYS[2] u:<user>:useq, KEYS[3] u:<user>:acked
# ARGV[1] device, ARGV[2] push channel. Returns {gen, inbox_seq, acked}.
LOGIN_LUA = """
local gen = redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
local useq = tonumber(redis.call('GET', KEYS[2]) or '0')
local acked = tonumber(redis.call('HGET', KEYS[3], ARGV[1]) or '0')
redis.call('PUBLISH', ARGV[2], '{"t":"kick","device":"' .. ARGV[1] .. '","gen":' .. gen .. '}')
return {gen, useq, acked}
"""

# KEYS[1] u:<user>:acked, KEYS[2] u:<user>:useq; ARGV[1] device, ARGV[2] upto.
# The cursor only grows and never passes the inbox's end. Returns the stored cursor.
ACK_LUA = """
local top = tonumber(redis.call('GET', KEYS[2]) or '0')
local upto = math.min(tonumber(ARGV[2]), top)
local cur = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
if upto > cur then
  redis.call('HSET', KEYS[1], ARGV[1], upto)
  return upto
end
return cur
"""


@dataclass(frozen=True)
class LoginState:
    gen: int
    inbox_seq: int
    acked: int


@dataclass(frozen=True)
class SendResult:
    mid: str
    seq: int
    server_ts: int
    conv: str
    dup: bool


@dataclass(frozen=True)
class SyncBatch:
    entries: list[str]  # msg JSON texts, ascending useq
    upto: int
    more: bool


class Store:
    """Async access to the store; every failure is raised as StoreError."""

    def __init__(self, url: str, timeout_s: float = 3.0) -> None:
        # One retry without backoff covers a pooled connection that went stale while
        # Redis restarted; every request here is safe to repeat (sends dedup by cmid).
        self._redis = aioredis.Redis.from_url(
            url, decode_responses=True, socket_timeout=timeout_s,
            socket_connect_timeout=min(timeout_s, 2.0), retry=Retry(NoBackoff(), 1),
            health_check_interval=0)
        self._send = self._redis.register_script(SEND_LUA)
        self._login = self._redis.register_script(LOGIN_LUA)
        self._ack = self._redis.register_script(ACK_LUA)

    async def aclose(self) -> None:
        try:
            await self._redis.aclose()
        except (RedisError, OSError):
            pass

    async def _call(self, what: str, coro: Any) -> Any:
        try:
            return await coro
        except (RedisError, OSError) as e:
            raise StoreError(f"store failed to {what}: {type(e).__name__}: {e}") from None

    async def ping(self) -> bool:
        return bool(await self._call("ping", self._redis.ping()))

    async def login(self, user: str, device: str) -> LoginState:
        """Start a login: bump the device's generation, announce it, read inbox end and cursor."""
        keys = [f"u:{user}:gen", f"u:{user}:useq", f"u:{user}:acked"]
        gen, useq, acked = await self._call(
            "log in", self._login(keys=keys, args=[device, push_channel(user)]))
        return LoginState(int(gen), int(useq), int(acked))

    async def send(self, user: str, device: str, cmid: str, conv: str, members: list[str],
                   body: str, ts: int | None, server_ts: int) -> SendResult:
        """Store one message in every member's inbox and publish it, or find its earlier copy."""
        shared: dict[str, Any] = {"conv": conv, "from": user, "from_device": device,
                                  "cmid": cmid, "body": body}
        if ts is not None:
            shared["ts"] = ts
        shared["server_ts"] = server_ts
        shared["kind"] = "text"
        # ',"conv":...,"kind":"text"' : the script puts mid, seq and useq before it
        tail = "," + orjson.dumps(shared).decode()[1:-1]
        keys = [f"u:{user}:cmids", f"c:{conv}:seq", "mid"]
        for m in members:
            keys += [f"u:{m}:useq", f"u:{m}:inbox"]
        args: list[Any] = [cmid, conv, server_ts, tail]
        args += [push_channel(m) for m in members]
        mid, seq, sts, stored_conv, dup = await self._call(
            "store a message", self._send(keys=keys, args=args))
        return SendResult(str(mid), int(seq), int(sts), str(stored_conv), bool(dup))

    async def ack(self, user: str, device: str, upto: int) -> int:
        """Advance the device's cursor to ``upto`` (never down); return the stored cursor."""
        keys = [f"u:{user}:acked", f"u:{user}:useq"]
        return int(await self._call("store an ack", self._ack(keys=keys, args=[device, upto])))

    async def sync(self, user: str, after: int, limit: int) -> SyncBatch:
        """Inbox entries with useq > after, ascending, at most ``limit``."""
        rows = await self._call("read the inbox", self._redis.zrangebyscore(
            f"u:{user}:inbox", f"({after}", "+inf", start=0, num=limit + 1, withscores=True))
        more = len(rows) > limit
        rows = rows[:limit]
        upto = int(rows[-1][1]) if rows else after
        return SyncBatch([r[0] for r in rows], upto, more)

    async def drop_entry(self, user: str, useq: int) -> None:
        """Remove inbox entry ``useq`` of ``user`` (only the lose-offline bug mode does this)."""
        await self._call("drop an inbox entry",
                         self._redis.zremrangebyscore(f"u:{user}:inbox", useq, useq))
