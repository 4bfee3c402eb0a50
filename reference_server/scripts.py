"""The Lua scripts of the store: each request that changes state is one of them, so it is
atomic in Redis and in the append-only file (with ``appendfsync always``, durable before
Redis answers). Keys are declared (``KEYS``); the layout is in ``store.py``.

Group membership is read by the node before a send or a group op and passed as the list
of member keys, together with the membership version it read (``c:<conv>:mver``, the seq
of the last membership change). The script refuses with status 2 ("stale") when the
version moved in between, and the node reads the members again: so a message with seq s
reaches exactly the members as of s, with every key declared.
"""

from __future__ import annotations

# Appends one message to the conversation and to each recipient's inbox, publishing it on
# the recipient's push channel. ``first`` is the KEYS index of the first recipient's useq
# key, each recipient taking ``stride`` keys (useq, inbox, ...); ``names`` the ARGV index
# of the first recipient's name. ``tail`` is the JSON text after mid, seq and useq.
_APPEND = """
local function new_mid()
  local n = redis.call('INCR', KEYS[3])
  if ARGV[8] == '' then return 'm' .. n end  -- no key: the bug mode sequential-mids
  return 'm' .. string.sub(redis.sha1hex(ARGV[8] .. ':' .. n), 1, 24)
end

local function append(seq, mid, tail, first, stride, names, count)
  local head = '"mid":"' .. mid .. '","seq":' .. seq .. ',"useq":'
  for i = 0, count - 1 do
    local k = first + stride * i
    local useq = redis.call('INCR', KEYS[k])
    local fields = head .. useq .. tail
    redis.call('ZADD', KEYS[k + 1], useq, '{' .. fields)
    redis.call('PUBLISH', 'push:' .. ARGV[names + i], '{"t":"msg",' .. fields)
  end
end
"""

# KEYS[1] sender's dedup hash, KEYS[2] conversation seq, KEYS[3] global mid counter,
# KEYS[4] the conversation's membership version; then per member i (0-based):
# KEYS[5+2i] useq counter, KEYS[6+2i] inbox.
# ARGV[1] cmid, ARGV[2] conv, ARGV[3] server_ts, ARGV[4] the JSON fields every copy shares
# (',"conv":...,"kind":"text"}'), ARGV[5] the membership version read ('' for a direct
# chat: no check), ARGV[6] 'nodedup' to skip the cmid lookup (bug mode), ARGV[7] a seq
# chosen outside the script ('': INCR; bug mode racy-seq), ARGV[8] the mid key (new_mid),
# ARGV[9+i] member i's name.
# Returns {mid, seq, server_ts, conv, status}: status 0 stored, 1 a repeat, 2 stale members.
SEND_LUA = _APPEND + """
if ARGV[6] ~= 'nodedup' then
  local prev = redis.call('HGET', KEYS[1], ARGV[1])
  if prev then
    local mid, seq, sts, conv = string.match(prev, '^(%S+) (%d+) (%d+) (.*)$')
    return {mid, tonumber(seq), sts, conv, 1}
  end
end
if ARGV[5] ~= '' and (redis.call('GET', KEYS[4]) or '') ~= ARGV[5] then
  return {'', 0, '', '', 2}
end
local seq
if ARGV[7] ~= '' then
  seq = tonumber(ARGV[7])
else
  seq = redis.call('INCR', KEYS[2])
end
local mid = new_mid()
append(seq, mid, ARGV[4], 5, 2, 9, #ARGV - 8)
redis.call('HSET', KEYS[1], ARGV[1], mid .. ' ' .. seq .. ' ' .. ARGV[3] .. ' ' .. ARGV[2])
return {mid, seq, ARGV[3], ARGV[2], 0}
"""

# A membership change of a group, delivered as an ``event`` message.
# KEYS[1] actor's opids hash, KEYS[2] conv seq, KEYS[3] mid counter, KEYS[4] mver,
# KEYS[5] the members set; per recipient i (0-based): KEYS[6+3i] useq, KEYS[7+3i] inbox,
# KEYS[8+3i] the recipient's groups set.
# ARGV[1] opid, ARGV[2] kind (group_create | group_add | group_remove), ARGV[3] conv,
# ARGV[4] actor, ARGV[5] mver read ('' = no group yet), ARGV[6] index (1-based) of the
# target user among the recipients (0 for group_create), ARGV[7] tail, ARGV[8] the mid key
# (new_mid), ARGV[9+i] names.
# Recipients: create: the new members; add: the members and the new one; remove: the
# members, the removed one included (so they learn it).
# Returns {status, detail}: 0 applied (detail: seq, or 0 when nothing changed),
# 1 a repeat of the opid, 2 stale members, 3 refused (detail: why).
GROUP_OP_LUA = _APPEND + """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return {1, 0} end
local ver = redis.call('GET', KEYS[4]) or ''
if ver ~= ARGV[5] then return {2, 0} end
local kind, conv, actor, target = ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[6])
local count = #ARGV - 8
if kind == 'group_create' then
  if ver ~= '' then return {3, 'group ' .. conv .. ' already exists'} end
else
  if redis.call('SISMEMBER', KEYS[5], actor) == 0 then
    return {3, actor .. ' is not a member of ' .. conv}
  end
  local name = ARGV[8 + target]
  local present = redis.call('SISMEMBER', KEYS[5], name) == 1
  if (kind == 'group_add') == present then
    redis.call('HSET', KEYS[1], ARGV[1], 'noop')
    return {0, 0}
  end
end
local seq = redis.call('INCR', KEYS[2])
local mid = new_mid()
for i = 0, count - 1 do
  local name, groups = ARGV[9 + i], KEYS[8 + 3 * i]
  if kind == 'group_create' then
    redis.call('SADD', KEYS[5], name)
    redis.call('SADD', groups, conv)
  elseif i + 1 == target then
    if kind == 'group_add' then
      redis.call('SADD', KEYS[5], name)
      redis.call('SADD', groups, conv)
    else
      redis.call('SREM', KEYS[5], name)
      redis.call('SREM', groups, conv)
    end
  end
end
redis.call('SET', KEYS[4], seq)
append(seq, mid, ARGV[7], 6, 3, 9, count)
redis.call('HSET', KEYS[1], ARGV[1], 'ok ' .. seq)
return {0, seq}
"""

# contact_add / contact_remove / pin: one set of the actor.
# KEYS[1] opids hash, KEYS[2] the set; ARGV[1] opid, ARGV[2] 'add' | 'remove', ARGV[3] item.
# Returns 1 applied, 0 a repeat of the opid.
SET_OP_LUA = """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return 0 end
if ARGV[2] == 'add' then
  redis.call('SADD', KEYS[2], ARGV[3])
else
  redis.call('SREM', KEYS[2], ARGV[3])
end
redis.call('HSET', KEYS[1], ARGV[1], 'ok')
return 1
"""

# KEYS[1] u:<user>:reads, KEYS[2] c:<conv>:seq.
# ARGV[1] conv, ARGV[2] upto, ARGV[3] 'lww' for last-write-wins (bug mode), ARGV[4] device,
# ARGV[5] user, ARGV[6] server_ts (the node's clock when it took the read, epoch ms),
# ARGV[7..] the other members (receipts).
# The marker never passes the conversation's last seq and, unless 'lww', only grows.
# When it moved, publishes read_sync to the user's devices and a receipt to each other
# member, both stamped with server_ts. Returns the stored marker.
READ_LUA = """
local top = tonumber(redis.call('GET', KEYS[2]) or '0')
local upto = math.max(0, math.min(tonumber(ARGV[2]), top))
local cur = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
if upto == cur or (ARGV[3] ~= 'lww' and upto < cur) then return cur end
redis.call('HSET', KEYS[1], ARGV[1], upto)
local conv = '"conv":"' .. ARGV[1] .. '","upto":' .. upto .. ',"server_ts":' .. ARGV[6]
redis.call('PUBLISH', 'push:' .. ARGV[5],
           '{"t":"read_sync",' .. conv .. ',"device":"' .. ARGV[4] .. '"}')
for i = 7, #ARGV do
  redis.call('PUBLISH', 'push:' .. ARGV[i],
             '{"t":"receipt",' .. conv .. ',"user":"' .. ARGV[5] .. '"}')
end
return upto
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
