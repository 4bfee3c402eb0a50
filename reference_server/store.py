"""The store: every durable effect of a node, in Redis, each request one Lua script or command.

Key layout (all plain keys of one Redis database; names are ``[A-Za-z0-9_.-]``):

| key | type | holds |
| --- | --- | --- |
| ``mid`` | string (counter) | the global message counter N; a message id is ``"m"`` and |
| | | 24 hex digits of SHA-1(mid key, N): unique, opaque, in no order (``mid_key``) |
| ``c:<conv>:seq`` | string (counter) | the conversation's last seq |
| ``u:<user>:useq`` | string (counter) | the user's last inbox position (useq) |
| ``u:<user>:inbox`` | sorted set | the inbox: member = msg JSON (no ``t``), score = useq |
| ``u:<user>:cmids`` | hash | dedup of sends: cmid -> ``"<mid> <seq> <server_ts> <conv>"`` |
| ``u:<user>:acked`` | hash | device -> cursor (highest useq the device acked) |
| ``u:<user>:gen`` | hash | device -> login generation (the newest wins; older get 4001) |
| ``u:<user>:reads`` | hash | conv -> read marker (highest seq read) |
| ``u:<user>:opids`` | hash | dedup of ops: opid -> ``"ok <seq>"``, ``"ok"`` or ``"noop"`` |
| ``u:<user>:contacts`` | set | the user's contacts |
| ``u:<user>:pinned`` | set | the user's pinned conversations |
| ``u:<user>:groups`` | set | the groups the user is a member of |
| ``c:<group>:members`` | set | a group's members |
| ``c:<group>:mver`` | string | the seq of the group's last membership change |
| ``c:<group>:owner`` | string | the group's owner (its creator; gone once the owner left) |
| ``c:<group>:admins`` | set | the group's admins (named by the owner; gone when they leave) |
| ``u:<user>:fanout`` | hash | the user's fan-out bucket: ``tokens``, ``at`` (fanout.py) |
| ``nodes`` | set | node ids that ever reported (presence.py) |
| ``node:<id>`` | string, TTL 3 s | the node's presence: JSON ``{id, url, load, conns, limit}`` |
| ``rl:u:<user>`` | hash, TTL | the user's request bucket: ``tokens``, ``at`` (ms; limits.py) |
| ``rl:d:<user>:<device>`` | hash, TTL | the device's request bucket, the same |
| ``rl:ip:<addr>`` | string, TTL | failed logins from the address this window (limits.py) |

Pub/sub channel ``push:<user>`` carries that user's pushes (``{"t":"msg",...}``, published
from inside the send script, so publication order is useq order; ``read_sync`` and
``receipt``, published by the read script) and takeover notices
(``{"t":"kick","device":D,"gen":G}``, published by the login script).

The inbox is never trimmed: the cursor marks what a device holds, the archive stays
(only the ``lose-offline`` bug mode removes entries).
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass
from typing import Any

import hiredis
import orjson
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from reference_server import scripts
from reference_server.resp import RespPipe, Script, StoreError

__all__ = ["GroupView", "Limit", "LoginState", "RateLimited", "SendResult", "StaleMembers",
           "Store", "StoreError", "SyncBatch", "push_channel", "script_reply", "send_result"]

# A request's limit as the guard of scripts.py takes it: the keys and the arguments that
# follow a script's own (limits.py makes them).
Limit = tuple[list[str], list[Any]]


def push_channel(user: str) -> str:
    """The pub/sub channel of ``user``'s pushes and takeover notices."""
    return f"push:{user}"


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
class GroupView:
    members: frozenset[str]
    ver: str  # the membership version ('' when the group does not exist)


class StaleMembers(Exception):
    """The group's membership changed between reading it and writing: read it again."""


class RateLimited(Exception):
    """A request over its user's or device's limit (limits.py): not applied."""

    def __init__(self, wait_ms: int, bucket: str) -> None:
        super().__init__(f"over the {bucket}'s request limit; retry in {wait_ms} ms")
        self.wait_ms = wait_ms
        self.bucket = bucket  # "user", "device" or "connection" (a bug mode)


@dataclass(frozen=True)
class SyncBatch:
    entries: list[str]  # msg JSON texts, ascending useq
    upto: int
    more: bool


def mid_key(secret: str) -> str:
    """The key message ids are made with (every node of a cluster shares ``secret``): with
    it secret, an id says nothing of how many messages were stored before it."""
    return hashlib.sha256(b"imload-mid:" + secret.encode()).hexdigest()[:32]


def _send_call(user: str, device: str, cmid: str, conv: str, members: list[str], body: str,
               ts: int | None, server_ts: int, ver: str, dedup: bool, seq: int | None,
               key: str) -> tuple[list[str], list[Any]]:
    """The keys and arguments of SEND_LUA for one message."""
    shared: dict[str, Any] = {"conv": conv, "from": user, "from_device": device,
                              "cmid": cmid, "body": body}
    if ts is not None:
        shared["ts"] = ts
    shared["server_ts"] = server_ts
    shared["kind"] = "text"
    # ',"conv":...,"kind":"text"}' : the script puts mid, seq and useq before it
    tail = "," + orjson.dumps(shared).decode()[1:]
    keys = [f"u:{user}:cmids", f"c:{conv}:seq", "mid", f"c:{conv}:mver"]
    for m in members:
        keys += [f"u:{m}:useq", f"u:{m}:inbox"]
    args: list[Any] = [cmid, conv, server_ts, tail, ver, "" if dedup else "nodedup",
                       "" if seq is None else seq, key, *members]
    return keys, args


def script_reply(what: str, reply: Any) -> Any:
    """A raw script reply from ``start_send``/``start_ack``; StoreError for an error reply,
    RateLimited when the script's limit refused it."""
    if isinstance(reply, hiredis.ReplyError):
        raise StoreError(f"store failed to {what}: the store refused a script: {reply}")
    if isinstance(reply, list) and len(reply) == 3 and reply[0] == "rate_limited":
        raise RateLimited(int(reply[1]), str(reply[2]))
    return reply


def send_result(reply: Any) -> SendResult:
    """The outcome of SEND_LUA's reply; StaleMembers when the membership moved."""
    mid, seq, sts, conv, status = script_reply("store a message", reply)
    if status == 2:
        raise StaleMembers("the membership changed since it was read")
    return SendResult(str(mid), int(seq), int(sts), str(conv), status == 1)


class Store:
    """Async access to the store; every failure is raised as StoreError."""

    def __init__(self, url: str, timeout_s: float = 3.0, mid_key: str = "") -> None:
        self._mid_key = mid_key
        # One retry without backoff covers a pooled connection that went stale while
        # Redis restarted; every request here is safe to repeat (sends dedup by cmid).
        self._redis = aioredis.Redis.from_url(
            url, decode_responses=True, socket_timeout=timeout_s,
            socket_connect_timeout=min(timeout_s, 2.0), retry=Retry(NoBackoff(), 1),
            health_check_interval=0)
        # the scripts go through one pipelined connection (resp.py); reads through redis-py
        self._send = Script(scripts.SEND_LUA)
        self._login = Script(scripts.LOGIN_LUA)
        self._ack = Script(scripts.ACK_LUA)
        self._read = Script(scripts.READ_LUA)
        self._group_op = Script(scripts.GROUP_OP_LUA)
        self._set_op = Script(scripts.SET_OP_LUA)
        self._limited_send = Script(scripts.LIMITED_SEND_LUA)
        self._limited_ack = Script(scripts.LIMITED_ACK_LUA)
        self._take = Script(scripts.TAKE_LUA)
        self._fanout = Script(scripts.FANOUT_LUA)
        self._login_gate = Script(scripts.LOGIN_GATE_LUA)
        self._login_failed = Script(scripts.LOGIN_FAILED_LUA)
        self._pipe = RespPipe(url, timeout_s, scripts=(
            self._send, self._login, self._ack, self._read, self._group_op, self._set_op,
            self._limited_send, self._limited_ack, self._take, self._fanout,
            self._login_gate, self._login_failed))

    @property
    def connected(self) -> bool:
        """The scripts' connection is up: ``start_send``/``start_ack`` will write now."""
        return self._pipe.connected

    @property
    def redis(self) -> aioredis.Redis:
        """The client itself, for the presence reports."""
        return self._redis

    async def _script(self, what: str, script: Script, keys: list[str], args: list[Any]
                      ) -> Any:
        try:
            return await self._pipe.evalsha(script, keys, args)
        except StoreError as e:
            raise StoreError(f"store failed to {what}: {e}") from None

    async def aclose(self) -> None:
        await self._pipe.aclose()
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
        gen, useq, acked = await self._script("log in", self._login, keys,
                                              [device, push_channel(user)])
        return LoginState(int(gen), int(useq), int(acked))

    async def send(self, user: str, device: str, cmid: str, conv: str, members: list[str],
                   body: str, ts: int | None, server_ts: int, *, ver: str = "",
                   dedup: bool = True, seq: int | None = None) -> SendResult:
        """Store one message in every member's inbox and publish it, or find its earlier copy.

        ``ver`` is the group membership version ``members`` were read at (StaleMembers when
        it moved); ``dedup=False`` and ``seq`` serve the bug modes no-dedup and racy-seq.
        """
        keys, args = _send_call(user, device, cmid, conv, members, body, ts, server_ts, ver,
                                dedup, seq, self._mid_key)
        return send_result(await self._script("store a message", self._send, keys, args))

    def start_send(self, user: str, device: str, cmid: str, conv: str, members: list[str],
                   body: str, ts: int | None, server_ts: int, limit: Limit | None = None
                   ) -> asyncio.Future[Any]:
        """Write the send script of a direct conversation now (no membership version to
        check), without waiting: the future of its raw reply, for ``send_result``. Calls
        written one after the other are applied in that order. Only while ``connected``
        (else use ``send``). With ``limit``, the script first draws the send's weight
        (RateLimited from ``send_result`` when refused: nothing stored)."""
        keys, args = _send_call(user, device, cmid, conv, members, body, ts, server_ts, "",
                                True, None, self._mid_key)
        if limit is None:
            return self._pipe.evalsha_nowait(self._send, keys, args)
        return self._pipe.evalsha_nowait(self._limited_send, keys + limit[0], args + limit[1])

    async def conv_seq(self, conv: str) -> int:
        """The conversation's last seq (only the racy-seq bug mode reads it outside a script)."""
        return int(await self._call("read a seq", self._redis.get(f"c:{conv}:seq")) or 0)

    async def set_conv_seq(self, conv: str, seq: int) -> None:
        await self._call("write a seq", self._redis.set(f"c:{conv}:seq", seq))

    async def group(self, conv: str) -> GroupView:
        """A group's members and membership version, read together."""
        pipe = self._redis.pipeline(transaction=True)
        pipe.smembers(f"c:{conv}:members")
        pipe.get(f"c:{conv}:mver")
        members, ver = await self._call("read a group", pipe.execute())
        return GroupView(frozenset(members), ver or "")

    async def group_op(self, user: str, device: str, opid: str, kind: str, conv: str,
                       recipients: list[str], target: str | None, ver: str,
                       body: dict[str, Any] | str, server_ts: int, open_rules: bool = False,
                       role: str = "") -> tuple[int, Any]:
        """Apply a group op (GROUP_OP_LUA, which holds the consent, owner and admin rules;
        ``open_rules``: the bug mode open-groups; ``role``: what a group_role gives):
        (status, detail); StaleMembers to read again."""
        shared = {"conv": conv, "from": user, "from_device": device, "cmid": f"op:{opid}",
                  "body": body, "server_ts": server_ts, "kind": "event"}
        tail = "," + orjson.dumps(shared).decode()[1:]
        keys = [f"u:{user}:opids", f"c:{conv}:seq", "mid", f"c:{conv}:mver",
                f"c:{conv}:members", f"c:{conv}:owner", f"c:{conv}:admins"]
        for m in recipients:
            keys += [f"u:{m}:useq", f"u:{m}:inbox", f"u:{m}:groups", f"u:{m}:contacts"]
        index = 0 if target is None else recipients.index(target) + 1
        status, detail = await self._script(
            "apply an op", self._group_op, keys,
            [opid, kind, conv, user, ver, index, tail, self._mid_key,
             "open" if open_rules else "", role, *recipients])
        if status == 2:
            raise StaleMembers(conv)
        return int(status), detail

    async def set_op(self, user: str, opid: str, key: str, action: str, item: str) -> bool:
        """Add ``item`` to or remove it from the user's set ``key`` once per opid; False on a
        repeat."""
        done = await self._script("apply an op", self._set_op,
                                  [f"u:{user}:opids", f"u:{user}:{key}"], [opid, action, item])
        return bool(done)

    async def state(self, user: str) -> dict[str, list[str]]:
        pipe = self._redis.pipeline(transaction=True)
        for key in ("contacts", "pinned", "groups"):
            pipe.smembers(f"u:{user}:{key}")
        contacts, pinned, groups = await self._call("read the state", pipe.execute())
        return {"contacts": sorted(contacts), "pinned": sorted(pinned),
                "groups": sorted(groups)}

    async def read(self, user: str, device: str, conv: str, upto: int, others: list[str],
                   server_ts: int, lww: bool = False) -> int:
        """Move the user's read marker of ``conv`` (up only, unless ``lww``); publish
        read_sync and receipts, stamped ``server_ts``, when it moved; return the stored
        marker."""
        keys = [f"u:{user}:reads", f"c:{conv}:seq"]
        args = [conv, upto, "lww" if lww else "", device, user, int(server_ts), *others]
        return int(await self._script("store a read", self._read, keys, args))

    async def reads(self, user: str) -> dict[str, int]:
        marks = await self._call("read the markers", self._redis.hgetall(f"u:{user}:reads"))
        return {conv: int(v) for conv, v in marks.items()}

    async def ack(self, user: str, device: str, upto: int) -> int:
        """Advance the device's cursor to ``upto`` (never down); return the stored cursor."""
        keys = [f"u:{user}:acked", f"u:{user}:useq"]
        return int(await self._script("store an ack", self._ack, keys, [device, upto]))

    def start_ack(self, user: str, device: str, upto: int, limit: Limit | None = None
                  ) -> asyncio.Future[Any]:
        """``ack`` written now, without waiting: the future of the raw reply (check it with
        ``script_reply``); only while ``connected`` (else use ``ack``). ``limit`` as for
        ``start_send``."""
        keys, args = [f"u:{user}:acked", f"u:{user}:useq"], [device, upto]
        if limit is None:
            return self._pipe.evalsha_nowait(self._ack, keys, args)
        return self._pipe.evalsha_nowait(self._limited_ack, keys + limit[0], args + limit[1])

    def start_take(self, limit: Limit) -> asyncio.Future[Any]:
        """``take`` written now, without waiting: the future of the raw reply (check it
        with ``script_reply``); only while ``connected``."""
        return self._pipe.evalsha_nowait(self._take, *limit)

    async def take(self, limit: Limit) -> None:
        """Draw a request's weight from its user's and device's buckets; RateLimited when
        either holds too little (nothing drawn)."""
        script_reply("draw a limit", await self._script("draw a limit", self._take, *limit))

    async def charge_fanout(self, user: str, rate: float, burst: int, writes: int) -> int:
        """Draw ``writes`` from ``user``'s fan-out bucket (fanout.py): 0 when drawn, else the
        ms until it holds them (nothing drawn)."""
        return int(await self._script("charge the fan-out budget", self._fanout,
                                      [f"u:{user}:fanout"], [rate, burst, writes]))

    async def login_gate(self, addr: str, max_fails: int) -> int:
        """0 when ``addr`` may log in, else the ms until its failed-login window ends."""
        return int(await self._script("check an address", self._login_gate,
                                      [f"rl:ip:{addr}"], [max_fails]))

    async def login_failed(self, addr: str, window_ms: int) -> int:
        """Count a failed login from ``addr``; the failures of its window so far."""
        return int(await self._script("count a failed login", self._login_failed,
                                      [f"rl:ip:{addr}"], [window_ms]))

    async def sync(self, user: str, after: int, limit: int,
                   max_bytes: int | None = None) -> SyncBatch:
        """Inbox entries with useq > after, ascending, at most ``limit`` and, past the first,
        at most ``max_bytes`` of them (UTF-8): a big inbox comes in several batches."""
        rows = await self._call("read the inbox", self._redis.zrangebyscore(
            f"u:{user}:inbox", f"({after}", "+inf", start=0, num=limit + 1, withscores=True))
        keep = min(len(rows), limit)
        if max_bytes is not None:
            total = 0
            for n, (entry, _) in enumerate(rows[:keep]):
                total += len(entry.encode())
                if n and total > max_bytes:
                    keep = n
                    break
        more = len(rows) > keep
        rows = rows[:keep]
        upto = int(rows[-1][1]) if rows else after
        return SyncBatch([r[0] for r in rows], upto, more)

    async def drop_entry(self, user: str, useq: int) -> None:
        """Remove inbox entry ``useq`` of ``user`` (only the lose-offline bug mode does this)."""
        await self._call("drop an inbox entry",
                         self._redis.zremrangebyscore(f"u:{user}:inbox", useq, useq))
