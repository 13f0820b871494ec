-- ARGV[3] consumer, ARGV[4] most jobs, ARGV[5] visibility timeout (ms), ARGV[6] how long a
-- stream's mark is kept after it last moved (ms).
-- Returns { {key, body, attempts, lease, stream, at, serial, stale}, ... }: stream '' when not
-- ordered; stale '' when the job may run, else the newest timestamp already leased to run.
local consumer, max, visibility = ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5])
local retention = tonumber(ARGV[6])
local now = now_ms()

-- Retries (and released jobs) whose time came go back to the stream.
for _, key in ipairs(redis.call('ZRANGEBYSCORE', sched, '-inf', now, 'LIMIT', 0, max)) do
  redis.call('ZREM', sched, key)
  if redis.call('HGET', job_key(key), 'state') == STATE.scheduled then
    push(key)
  end
end

local jobs = {}
local FIELDS = { 'state', 'entry', 'body', 'attempts', 'stream', 'at', 'serial', 'kind' }
local any_paused = redis.call('SCARD', paused) > 0

-- A job of a paused kind leaves the stream for its kind's list; `true` when it did.
local function hold(key, f)
  if not any_paused or not f[8] or redis.call('SISMEMBER', paused, f[8]) == 0 then
    return false
  end
  redis.call('XACK', stream, group, f[2])
  redis.call('XDEL', stream, f[2])
  redis.call('ZREM', leases, key)
  redis.call('HSET', job_key(key), 'state', STATE.held, 'entry', '')
  redis.call('RPUSH', held_by_pause(f[8]), key)
  return true
end

local function grant(key, f)
  local lease = redis.call('INCR', seq)
  redis.call('HSET', job_key(key), 'state', STATE.leased, 'lease', lease)
  redis.call('ZADD', leases, now + visibility, key)
  local stream, at, stale = f[5] or '', tonumber(f[6] or '0'), ''
  if stream ~= '' then
    -- The mark moves forward only; an older job is handed out as stale.
    local mark_key = prefix .. 'mark:' .. stream
    local mark = tonumber(redis.call('GET', mark_key))
    if mark and mark > at then
      stale = tostring(mark)
    else
      redis.call('SET', mark_key, f[6], 'PX', retention)
    end
  end
  jobs[#jobs + 1] = { key, f[3], f[4], lease, stream, at, tonumber(f[7] or '0'), stale }
end

-- Leases whose visibility timeout passed, whichever consumer (dead or alive) held them: the
-- entry moves to this consumer in the group's pending list.
for _, key in ipairs(redis.call('ZRANGEBYSCORE', leases, '-inf', now, 'LIMIT', 0, max)) do
  local f = redis.call('HMGET', job_key(key), unpack(FIELDS))
  if f[1] == STATE.leased then
    if not hold(key, f) then
      redis.pcall('XCLAIM', stream, group, consumer, 0, f[2], 'JUSTID')
      grant(key, f)
    end
  else
    redis.call('ZREM', leases, key)
  end
end

-- New entries.
if #jobs < max then
  local reply = redis.pcall('XREADGROUP', 'GROUP', group, consumer, 'COUNT', max - #jobs, 'STREAMS', stream, '>')
  if is_nogroup(reply) then
    -- The stream is there but its group is not (deleted by hand): entries from the start.
    create_group()
  elseif type(reply) == 'table' and reply.err then
    return redis.error_reply(reply.err)
  elseif reply then
    for _, entry in ipairs(reply[1][2]) do
      local id, key = entry[1], entry[2][2]
      local f = redis.call('HMGET', job_key(key), unpack(FIELDS))
      if f[1] == STATE.ready and f[2] == id then
        if not hold(key, f) then
          grant(key, f)
        end
      else
        -- The job finished, died or was queued again under a newer entry: drop this one.
        redis.call('XACK', stream, group, id)
        redis.call('XDEL', stream, id)
      end
    end
  end
end
return jobs
