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

# A membership or role change of a group, delivered as an ``event`` message.
# KEYS[1] actor's opids hash, KEYS[2] conv seq, KEYS[3] mid counter, KEYS[4] mver,
# KEYS[5] the members set, KEYS[6] the group's owner, KEYS[7] the group's admins set; per
# recipient i (0-based): KEYS[8+4i] useq, KEYS[9+4i] inbox, KEYS[10+4i] the recipient's
# groups set, KEYS[11+4i] the recipient's contacts set.
# ARGV[1] opid, ARGV[2] kind (group_create | group_add | group_remove | group_role),
# ARGV[3] conv, ARGV[4] actor, ARGV[5] mver read ('' = no group yet), ARGV[6] index
# (1-based) of the target user among the recipients (0 for group_create), ARGV[7] tail,
# ARGV[8] the mid key (new_mid), ARGV[9] 'open' to skip the consent, owner and admin rules
# (bug mode open-groups), ARGV[10] the role given (group_role; '' otherwise), ARGV[11+i]
# names.
# Recipients: create: the new members; add: the members and the new one; remove: the
# members, the removed one included (so they learn it); role: the members.
# The rules (docs/protocol.md, "Groups"): a user joins only with their consent (the user
# has the actor as a contact); the owner (the creator) removes anyone, an admin removes
# members who are neither the owner nor an admin; anyone leaves, the owner too (the group
# then has no owner); only the owner names and un-names admins, and its own role is not
# given; a removed or leaving admin is no longer one. A role change takes a seq but leaves
# the membership version: the members did not change.
# Returns {status, detail}: 0 applied (detail: seq, or 0 when nothing changed),
# 1 a repeat of the opid, 2 stale members, 3 refused (detail: why).
GROUP_OP_LUA = _APPEND + """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return {1, 0} end
local ver = redis.call('GET', KEYS[4]) or ''
if ver ~= ARGV[5] then return {2, 0} end
local kind, conv, actor, target = ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[6])
local count, open, role = #ARGV - 10, ARGV[9] == 'open', ARGV[10]
local function agreed(i)  -- recipient i (0-based) has the actor as a contact
  return redis.call('SISMEMBER', KEYS[11 + 4 * i], actor) == 1
end
local function noop()
  redis.call('HSET', KEYS[1], ARGV[1], 'noop')
  return {0, 0}
end
if kind == 'group_create' then
  if ver ~= '' then return {3, 'group ' .. conv .. ' already exists'} end
  local strangers = {}
  for i = 0, count - 1 do
    if not open and ARGV[11 + i] ~= actor and not agreed(i) then
      table.insert(strangers, ARGV[11 + i])
    end
  end
  if #strangers > 0 then
    return {3, #strangers .. ' of the members (' .. table.concat(strangers, ', ', 1,
            math.min(#strangers, 5)) .. ') have not added ' .. actor .. ' as a contact'}
  end
else
  if redis.call('SISMEMBER', KEYS[5], actor) == 0 then
    return {3, actor .. ' is not a member of ' .. conv}
  end
  local name = ARGV[10 + target]
  local present = redis.call('SISMEMBER', KEYS[5], name) == 1
  local owner = redis.call('GET', KEYS[6]) or ''
  if kind == 'group_role' then
    if not present then return {3, name .. ' is not a member of ' .. conv} end
    if not open and owner ~= actor then
      return {3, 'only the owner of ' .. conv .. ' names or un-names admins'}
    end
    if name == owner then
      return {3, name .. ' is the owner of ' .. conv .. ': that role is neither given ' ..
              'nor taken'}
    end
    if (role == 'admin') == (redis.call('SISMEMBER', KEYS[7], name) == 1) then
      return noop()
    end
  else
    if (kind == 'group_add') == present then return noop() end
    if not open and kind == 'group_add' and not agreed(target - 1) then
      return {3, name .. ' has not added ' .. actor .. ' as a contact'}
    end
    if not open and kind == 'group_remove' and name ~= actor and owner ~= actor then
      if redis.call('SISMEMBER', KEYS[7], actor) == 0 then
        return {3, 'only the owner or an admin of ' .. conv .. ' removes others; ' ..
                actor .. ' may leave'}
      end
      if name == owner then
        return {3, actor .. ' is an admin of ' .. conv .. ' and may not remove its owner'}
      end
      if redis.call('SISMEMBER', KEYS[7], name) == 1 then
        return {3, actor .. ' is an admin of ' .. conv .. ' and may not remove another ' ..
                'admin (' .. name .. '); only the owner may'}
      end
    end
    if kind == 'group_remove' then
      if name == owner then redis.call('DEL', KEYS[6]) end
      redis.call('SREM', KEYS[7], name)
    end
  end
end
local seq = redis.call('INCR', KEYS[2])
local mid = new_mid()
if kind == 'group_role' then
  redis.call(role == 'admin' and 'SADD' or 'SREM', KEYS[7], ARGV[10 + target])
else
  for i = 0, count - 1 do
    local name, groups = ARGV[11 + i], KEYS[10 + 4 * i]
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
  if kind == 'group_create' then redis.call('SET', KEYS[6], actor) end
  redis.call('SET', KEYS[4], seq)
end
append(seq, mid, ARGV[7], 8, 4, 11, count)
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

# The request limit (limits.py), run before a script's own work: the last two KEYS are the
# user's and the device's bucket (rl:u:<user>, rl:d:<user>:<device>), the last five ARGV
# the request's weight, the user's rate (tokens per second) and burst, the device's rate
# and burst. The guard removes them, so the script after it sees its own KEYS and ARGV. A
# bucket is a hash {tokens, at} (at: the store's clock, ms); a missing one is full, and
# each lives only as long as it takes to fill again (PEXPIRE), so an idle device leaves
# nothing. When either bucket holds less than the weight (capped at its burst), the guard
# draws nothing and returns {'rate_limited', ms until both hold it, 'user' | 'device'}
# before the script runs; else it draws the weight from both and the script goes on.
# Buckets are soft state: kept out of the append-only file (REPL_NONE), so drawing costs
# no fsync, and a restarted store starts them full.
_BUCKETS = """
redis.set_repl(redis.REPL_NONE)
local function store_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function bucket_level(key, rate, burst, now)
  local v = redis.call('HMGET', key, 'tokens', 'at')
  local tokens = tonumber(v[1])
  if not tokens then return burst end
  return math.min(burst, tokens + math.max(0, now - (tonumber(v[2]) or now)) * rate / 1000)
end
local function bucket_draw(key, level, rate, burst, now)
  redis.call('HSET', key, 'tokens', level, 'at', now)
  redis.call('PEXPIRE', key, math.ceil((burst - level) * 1000 / rate) + 1000)
end
"""
_GUARD = _BUCKETS + """
local limited
do
  local db, dr = tonumber(table.remove(ARGV)), tonumber(table.remove(ARGV))
  local ub, ur = tonumber(table.remove(ARGV)), tonumber(table.remove(ARGV))
  local w = tonumber(table.remove(ARGV))
  local dk, uk = table.remove(KEYS), table.remove(KEYS)
  local now = store_ms()
  local u, d = bucket_level(uk, ur, ub, now), bucket_level(dk, dr, db, now)
  local wu, wd = math.min(w, ub), math.min(w, db)
  if u < wu or d < wd then
    local mu, md = (wu - u) * 1000 / ur, (wd - d) * 1000 / dr
    if mu >= md then
      limited = {'rate_limited', math.max(1, math.ceil(mu)), 'user'}
    else
      limited = {'rate_limited', math.max(1, math.ceil(md)), 'device'}
    end
  else
    bucket_draw(uk, u - wu, ur, ub, now)
    bucket_draw(dk, d - wd, dr, db, now)
  end
end
redis.set_repl(redis.REPL_ALL)
if limited then return limited end
"""

# A group message's or op's fan-out (fanout.py): KEYS[1] the user's fan-out bucket
# (u:<user>:fanout), ARGV[1] its rate (inbox writes per second), ARGV[2] its burst, ARGV[3]
# the writes (capped at the burst). Returns 0 when drawn, else the ms until the bucket
# holds them (nothing drawn). On the store's clock, so nodes whose clocks disagree share it.
FANOUT_LUA = _BUCKETS + """
local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local cost, now = math.min(tonumber(ARGV[3]), burst), store_ms()
local level = bucket_level(KEYS[1], rate, burst, now)
if level < cost then return math.max(1, math.ceil((cost - level) * 1000 / rate)) end
bucket_draw(KEYS[1], level - cost, rate, burst, now)
return 0
"""

# A request's limit alone (every request but a pipelined send or ack): returns 0 when the
# weight was drawn, else the guard's refusal.
TAKE_LUA = _GUARD + "return 0\n"
# A send and an ack whose limit rides in their own script: no extra round trip.
LIMITED_SEND_LUA = _GUARD + SEND_LUA
LIMITED_ACK_LUA = _GUARD + ACK_LUA

# Failed logins per source address (limits.py): KEYS[1] rl:ip:<addr>, a counter of the
# address's failed logins that lives one window from its first failure.
# LOGIN_GATE_LUA: ARGV[1] the failures allowed per window. Returns 0 when the address may
# log in, else the ms until its window ends.
LOGIN_GATE_LUA = """
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n < tonumber(ARGV[1]) then return 0 end
return math.max(1, redis.call('PTTL', KEYS[1]))
"""
# LOGIN_FAILED_LUA: ARGV[1] the window in ms. Counts one failure (soft state, as the
# buckets: not in the append-only file); returns the count.
LOGIN_FAILED_LUA = """
redis.set_repl(redis.REPL_NONE)
local n = redis.call('INCR', KEYS[1])
if redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n
"""
