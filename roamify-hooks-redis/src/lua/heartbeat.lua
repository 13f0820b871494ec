-- ARGV[3] this process's consumer, ARGV[4] how long it may go without a heartbeat (ms).
-- Records that this consumer is alive, then takes back the leases of consumers whose heartbeat
-- deadline passed (their process is gone): each job such a consumer holds is due now, taken by
-- the next lease of any consumer (its entry moves with `XCLAIM`). Returns how many were taken.
-- The live holders' heartbeat deadlines (zset).
local holders = prefix .. 'holders'
local now = now_ms()
redis.call('ZADD', holders, now + tonumber(ARGV[4]), ARGV[3])
local taken = 0
for _, gone in ipairs(redis.call('ZRANGEBYSCORE', holders, '-inf', now, 'LIMIT', 0, 16)) do
  local pending = redis.pcall('XPENDING', stream, group, '-', '+', 1000, gone)
  if type(pending) == 'table' and not pending.err then
    for _, p in ipairs(pending) do
      local id = p[1]
      local entry = redis.call('XRANGE', stream, id, id)
      if #entry > 0 then
        local key = entry[1][2][2]
        local f = redis.call('HMGET', job_key(key), 'state', 'entry')
        if f[1] == STATE.leased and f[2] == id then
          redis.call('ZADD', leases, now, key)
          taken = taken + 1
        end
      end
    end
    -- More than a page: the rest on the next heartbeat (this consumer stays listed until then).
    if #pending < 1000 then
      redis.call('ZREM', holders, gone)
    end
  else
    redis.call('ZREM', holders, gone)
  end
end
return taken
