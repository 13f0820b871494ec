-- ARGV[3..]: settlements, seven values each: key, lease, resolution ('completed', 'stale',
-- 'retry', 'dead', 'released'), delay (ms, for a retry), error, and for the history when the run
-- started (ms, '' when it did not run) and how long it took (ms). Returns 1 for each one
-- recorded, 0 for each whose lease moved on (another worker took the job; nothing is changed).
local FATE = { completed = 'handled', stale = 'stale', retry = 'retrying', dead = 'dead' }
local now = now_ms()
local applied = {}
for i = 3, #ARGV, 7 do
  local key, lease, resolution = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local job = job_key(key)
  local f = redis.call('HMGET', job, 'state', 'lease', 'entry', 'stream', 'serial')
  if f[1] == STATE.leased and f[2] == lease then
    redis.call('XACK', stream, group, f[3])
    redis.call('XDEL', stream, f[3])
    redis.call('ZREM', leases, key)
    if (resolution == 'completed' or resolution == 'stale' or resolution == 'dead')
        and f[5] == '1' and f[4] and f[4] ~= '' then
      open_gate(f[4])
    end
    if resolution == 'completed' or resolution == 'stale' then
      -- The dedupe mark stays until its window ends.
      redis.call('DEL', job)
      redis.call('SREM', live, key)
    elseif resolution == 'retry' then
      redis.call('HINCRBY', job, 'attempts', 1)
      redis.call('HSET', job, 'state', STATE.scheduled, 'entry', '', 'error', ARGV[i + 4])
      redis.call('ZADD', sched, now + tonumber(ARGV[i + 3]), key)
    elseif resolution == 'dead' then
      redis.call('HINCRBY', job, 'attempts', 1)
      redis.call('HSET', job, 'state', STATE.dead, 'entry', '', 'error', ARGV[i + 4], 'dead_at', now)
      redis.call('SREM', live, key)
      redis.call('ZADD', dead, now, key)
    else
      -- Released: leased, never started; back to the queue now, no attempt counted.
      redis.call('HSET', job, 'state', STATE.scheduled, 'entry', '')
      redis.call('ZADD', sched, now, key)
    end
    if FATE[resolution] then
      history_settled(key, FATE[resolution], ARGV[i + 5], ARGV[i + 6], ARGV[i + 4], now)
    end
    applied[#applied + 1] = 1
  else
    applied[#applied + 1] = 0
  end
end
return applied
