-- Shared by every script of the Redis store (prepended to each).
-- KEYS: the stream, the set of live keys, the schedule (zset), the dead letters (zset), the
-- lease counter, the lease deadlines (zset). ARGV[1]: the prefix of per-delivery keys (and of
-- the keys only one script uses: `holders`, `owner`); ARGV[2]: the consumer group.
local stream, live, sched, dead, seq, leases = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local prefix, group = ARGV[1], ARGV[2]

-- A job's states (its hash's field `state`): the only place they are spelled.
-- ready: in the stream, waiting for a worker; leased: held by a consumer until its deadline in
-- `leases`; scheduled: a retry (or a released job) waiting for its time in `sched`; dead: a dead
-- letter in `dead`; parked: a serial delivery waiting behind its stream's pending one, in the
-- stream's `parked:` list. A completed job's hash is deleted.
-- held: of a kind paused by an operator, waiting in the kind's `paused:` list until it is resumed.
local STATE = { ready = 'ready', leased = 'leased', scheduled = 'scheduled', dead = 'dead', parked = 'parked', held = 'held' }

-- The kinds paused (`category.kind`), and the list of a paused kind's held jobs.
local paused = prefix .. 'paused'
local function held_by_pause(kind)
  return prefix .. 'paused:' .. kind
end

-- Redis's clock, the same for every receiver.
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function job_key(key)
  return prefix .. 'job:' .. key
end

local function create_group()
  redis.call('XGROUP', 'CREATE', stream, group, '0', 'MKSTREAM')
end

local function is_nogroup(reply)
  return type(reply) == 'table' and reply.err ~= nil and string.find(reply.err, 'NOGROUP') ~= nil
end

-- Queues a job: a new stream entry, remembered in the job so older entries are recognised.
local function push(key)
  if redis.call('EXISTS', stream) == 0 then
    -- First use, or Redis restarted without persistence: the group went with the stream.
    create_group()
  end
  local id = redis.call('XADD', stream, '*', 'k', key)
  redis.call('HSET', job_key(key), 'state', STATE.ready, 'entry', id)
end

-- Ordering. A serial stream with a pending delivery (ready, leased, retrying) is `held:`; the
-- deliveries behind it wait in its `parked:` list, in arrival order. Each stream's mark (the
-- newest timestamp leased to run) is `mark:`, kept for the dedupe window after it last moved.
local function held_key(stream)
  return prefix .. 'held:' .. stream
end

local function parked_key(stream)
  return prefix .. 'parked:' .. stream
end

-- Queues a new (or replayed) job, behind its serial stream's pending one if there is one.
local function admit(key, stream, serial)
  if serial == '1' and stream ~= '' then
    local holder = redis.call('GET', held_key(stream))
    local holding = holder and redis.call('HGET', job_key(holder), 'state')
    -- A holder whose job is gone (its keys deleted by hand) holds nothing.
    if holding == STATE.ready or holding == STATE.leased or holding == STATE.scheduled then
      redis.call('RPUSH', parked_key(stream), key)
      redis.call('HSET', job_key(key), 'state', STATE.parked, 'entry', '')
      return
    end
    redis.call('SET', held_key(stream), key)
  end
  push(key)
end

-- A serial stream's pending job is finished for good: the next parked one is queued.
local function open_gate(stream)
  local next = redis.call('LPOP', parked_key(stream))
  if next then
    redis.call('SET', held_key(stream), next)
    push(next)
  else
    redis.call('DEL', held_key(stream))
  end
end

-- The delivery history: a hash per delivery (`h:<key>`) and `history`, a zset of the keys by
-- arrival (ms). Bounded by count and age, the oldest dropped first, as deliveries arrive.
local history = prefix .. 'history'

local function history_key(key)
  return prefix .. 'h:' .. key
end

local function history_drop(keys)
  for _, old in ipairs(keys) do
    redis.call('ZREM', history, old)
    redis.call('DEL', history_key(old))
  end
end

-- A delivery stored at `now`; `entries` 0 keeps no history.
local function history_stored(key, category, kind, iccid, entries, age, now)
  if entries <= 0 then
    return
  end
  local h = history_key(key)
  redis.call('DEL', h)
  redis.call('HSET', h, 'category', category, 'kind', kind, 'iccid', iccid, 'received', now,
    'fate', 'pending', 'attempts', '[]', 'duplicates', 0, 'replays', 0)
  redis.call('ZADD', history, now, key)
  local over = redis.call('ZCARD', history) - entries
  if over > 0 then
    history_drop(redis.call('ZRANGE', history, 0, over - 1))
  end
  history_drop(redis.call('ZRANGEBYSCORE', history, '-inf', '(' .. (now - age), 'LIMIT', 0, 100))
end

-- A run of `key` (at = '' when it did not run) and the fate it led to; `finished` when final.
local function history_settled(key, fate, at, took, err, now)
  local h = history_key(key)
  if redis.call('EXISTS', h) == 0 then
    return
  end
  if at ~= '' then
    local attempts = cjson.decode(redis.call('HGET', h, 'attempts') or '[]')
    if #attempts >= 16 then
      table.remove(attempts, 1)
    end
    local attempt = { at_ms = tonumber(at), took_ms = tonumber(took) }
    if err ~= '' then
      attempt.error = err
    end
    attempts[#attempts + 1] = attempt
    redis.call('HSET', h, 'attempts', cjson.encode(attempts))
  end
  redis.call('HSET', h, 'fate', fate)
  if fate == 'pending' or fate == 'retrying' then
    redis.call('HDEL', h, 'finished')
  else
    redis.call('HSET', h, 'finished', now)
  end
end
