"""The Lua scripts that change routing's live state in Redis, each one atomic.

Pure (text). `routing.live` registers them once per client (redis-py's Script:
EVALSHA, and SCRIPT LOAD then EVALSHA again on NOSCRIPT, as after a restart or a
SCRIPT FLUSH). Every key a script touches is built in `routing.keys` and passed in:
as KEYS, or for the agent hashes (named by the agent ids found in a ready set) as a
key prefix, and for the ready sets an agent leaves as the ``placed`` field written
from KEYS-built names. Every script that writes an agent refuses with
``LIVE_STATE_LOST`` when the epoch key is missing: after a FLUSHDB, or while a
rebuild replaces the state, nothing half-written can land.

RESERVE walks the queue's ready set best first (`routing.placement` made the order
the strategy's; round_robin walks by member from the queue's cursor and wraps) and
takes the first agent whose hash says available, idle, registered and ready_at
reached. An entry whose hash says otherwise is stale and is dropped from the set;
an agent only waiting for ready_at stays. Taking the agent does what
`routing.agent.apply(agent, Reserve(call))` does (state reserved, the call held,
its code not filed), bumps the version, takes the agent out of every ready set it
is in, removes the call from the waiting set, indexes call -> agent, counts, and
publishes the agent's and the queue's events. Redis runs one script at a time, so
two reservations can never take the same agent.

COMMIT writes an agent computed in Python by the pure rules, if and only if the
agent's version is still the one it was computed from (check-and-set), together
with its new ready-set places and the call index; it returns the new version, or
nil when a newer write got there first.
"""

from __future__ import annotations

_EPOCH_GUARD = """
if redis.call('EXISTS', KEYS[1]) == 0 then
  return redis.error_reply('LIVE_STATE_LOST')
end
"""

# KEYS: epoch, queues, queue hash, ready zset, waiting zset, calls hash.
# ARGV: queue id, call id ('' for the longest waiting), now (µs), agent key prefix,
#       events channel, now (ISO 8601, for the events).
RESERVE = _EPOCH_GUARD + """
local queue_id, call, now = ARGV[1], ARGV[2], tonumber(ARGV[3])
local prefix, channel, at = ARGV[4], ARGV[5], ARGV[6]
local definition = redis.call('HGET', KEYS[2], queue_id)
if not definition then return redis.error_reply('NO_SUCH_QUEUE ' .. queue_id) end
local strategy = cjson.decode(definition)['strategy']
if call == '' then
  call = redis.call('ZRANGE', KEYS[5], 0, 0)[1]
  if not call then return false end
end
if redis.call('HEXISTS', KEYS[6], call) == 1 then
  return redis.error_reply('CALL_HELD ' .. call)
end

local function verdict(id)
  local f = redis.call('HMGET', prefix .. id, 'status', 'state', 'registered', 'ready_at')
  if f[1] ~= 'available' or f[2] ~= 'idle' or f[3] ~= '1' then return 'stale' end
  if f[4] and f[4] ~= '' and tonumber(f[4]) > now then return 'later' end
  return 'take'
end

local function first(low, high, bylex)
  local offset = 0
  while true do
    local batch
    if bylex then
      batch = redis.call('ZRANGE', KEYS[4], low, high, 'BYLEX', 'LIMIT', offset, 16)
    else
      batch = redis.call('ZRANGE', KEYS[4], offset, offset + 15)
    end
    if #batch == 0 then return nil end
    for _, id in ipairs(batch) do
      local found = verdict(id)
      if found == 'take' then return id end
      if found == 'stale' then redis.call('ZREM', KEYS[4], id) else offset = offset + 1 end
    end
  end
end

local chosen
local cursor = redis.call('HGET', KEYS[3], 'cursor')
if strategy ~= 'round_robin' then
  chosen = first(0, 0, false)
elseif cursor then
  chosen = first('(' .. cursor, '+', true) or first('-', '[' .. cursor, true)
else
  chosen = first('-', '+', true)
end
if not chosen then
  redis.call('HINCRBY', KEYS[3], 'missed', 1)
  return false
end

local key = prefix .. chosen
local placed = redis.call('HGET', key, 'placed') or ''
for ready in string.gmatch(placed, '%S+') do redis.call('ZREM', ready, chosen) end
redis.call('HSET', key, 'state', 'reserved', 'call_id', call, 'code_filed', '0', 'placed', '')
local version = redis.call('HINCRBY', key, 'version', 1)
redis.call('HSET', KEYS[6], call, chosen)
redis.call('ZREM', KEYS[5], call)
redis.call('HINCRBY', KEYS[3], 'reserved', 1)
if strategy == 'round_robin' then redis.call('HSET', KEYS[3], 'cursor', chosen) end
redis.call('PUBLISH', channel, cjson.encode({kind = 'agent', agent_id = chosen,
  status = 'available', reason = cjson.null, state = 'reserved', call_id = call,
  registered = true, queue_id = queue_id, at = at}))
redis.call('PUBLISH', channel, cjson.encode({kind = 'queue', queue_id = queue_id,
  waiting = redis.call('ZCARD', KEYS[5]), free = redis.call('ZCARD', KEYS[4]), at = at}))
return {chosen, call, version, redis.call('HGET', key, 'extension')}
"""

# KEYS: epoch, agent hash, calls hash.
# ARGV: expected version, events channel, event JSON ('' for none), number of field
#       pairs n, n field/value pairs, then ready-set key/score pairs.
COMMIT = _EPOCH_GUARD + """
local current = redis.call('HMGET', KEYS[2], 'version', 'call_id', 'agent_id', 'placed')
if current[1] ~= ARGV[1] then return false end
local id, old_call = current[3], current[2] or ''
for ready in string.gmatch(current[4] or '', '%S+') do redis.call('ZREM', ready, id) end
local n = tonumber(ARGV[4])
redis.call('HSET', KEYS[2], unpack(ARGV, 5, 4 + 2 * n))
local placed = {}
for i = 5 + 2 * n, #ARGV, 2 do
  redis.call('ZADD', ARGV[i], ARGV[i + 1], id)
  placed[#placed + 1] = ARGV[i]
end
redis.call('HSET', KEYS[2], 'placed', table.concat(placed, ' '))
local new_call = redis.call('HGET', KEYS[2], 'call_id') or ''
if old_call ~= '' and old_call ~= new_call and redis.call('HGET', KEYS[3], old_call) == id then
  redis.call('HDEL', KEYS[3], old_call)
end
if new_call ~= '' then redis.call('HSET', KEYS[3], new_call, id) end
if ARGV[3] ~= '' then redis.call('PUBLISH', ARGV[2], ARGV[3]) end
return redis.call('HINCRBY', KEYS[2], 'version', 1)
"""

# KEYS: waiting zset, ready zset.
# ARGV: 'add' or 'remove', call id, now (µs), events channel, queue id, now (ISO).
WAITING = """
local changed
if ARGV[1] == 'add' then
  changed = redis.call('ZADD', KEYS[1], 'NX', ARGV[3], ARGV[2])
else
  changed = redis.call('ZREM', KEYS[1], ARGV[2])
end
if changed == 1 then
  redis.call('PUBLISH', ARGV[4], cjson.encode({kind = 'queue', queue_id = ARGV[5],
    waiting = redis.call('ZCARD', KEYS[1]), free = redis.call('ZCARD', KEYS[2]),
    at = ARGV[6]}))
end
return changed
"""

# KEYS: lock. ARGV: the token the lock was taken with.
UNLOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
