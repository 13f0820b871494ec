-- ARGV[3] consumer, ARGV[4] most jobs, ARGV[5] visibility timeout (ms).
-- Returns { {key, body, attempts, lease}, ... }.
local consumer, max, visibility = ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5])
local now = now_ms()

-- Retries (and released jobs) whose time came go back to the stream.
for _, key in ipairs(redis.call('ZRANGEBYSCORE', sched, '-inf', now, 'LIMIT', 0, max)) do
  redis.call('ZREM', sched, key)
  if redis.call('HGET', job_key(key), 'state') == STATE.scheduled then
    push(key)
  end
end

local jobs = {}
local function grant(key, f)
  local lease = redis.call('INCR', seq)
  redis.call('HSET', job_key(key), 'state', STATE.leased, 'lease', lease)
  redis.call('ZADD', leases, now + visibility, key)
  jobs[#jobs + 1] = { key, f[3], f[4], lease }
end

-- Leases whose visibility timeout passed, whichever consumer (dead or alive) held them: the
-- entry moves to this consumer in the group's pending list.
for _, key in ipairs(redis.call('ZRANGEBYSCORE', leases, '-inf', now, 'LIMIT', 0, max)) do
  local f = redis.call('HMGET', job_key(key), 'state', 'entry', 'body', 'attempts')
  if f[1] == STATE.leased then
    redis.pcall('XCLAIM', stream, group, consumer, 0, f[2], 'JUSTID')
    grant(key, f)
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
      local f = redis.call('HMGET', job_key(key), 'state', 'entry', 'body', 'attempts')
      if f[1] == STATE.ready and f[2] == id then
        grant(key, f)
      else
        -- The job finished, died or was queued again under a newer entry: drop this one.
        redis.call('XACK', stream, group, id)
        redis.call('XDEL', stream, id)
      end
    end
  end
end
return jobs
