-- ARGV[3] key, ARGV[4] body, ARGV[5] dedupe window (ms), ARGV[6] capacity.
-- Returns 'stored', 'duplicate' or 'full'. The dedupe mark, the capacity check and the job are
-- written together or not at all.
local key, body, window, capacity = ARGV[3], ARGV[4], ARGV[5], tonumber(ARGV[6])
local mark = prefix .. 'dk:' .. key
if redis.call('EXISTS', mark) == 1 then
  return 'duplicate'
end
local job = job_key(key)
local state = redis.call('HGET', job, 'state')
if state == STATE.ready or state == STATE.leased or state == STATE.scheduled then
  -- An earlier delivery of the same event, from before the window, still waits: it runs once.
  redis.call('SET', mark, '1', 'PX', window)
  return 'stored'
end
if redis.call('SCARD', live) >= capacity then
  return 'full'
end
if state == STATE.dead then
  redis.call('ZREM', dead, key)
end
redis.call('DEL', job)
redis.call('SET', mark, '1', 'PX', window)
redis.call('HSET', job, 'body', body, 'attempts', 0, 'received', now_ms())
redis.call('SADD', live, key)
push(key)
return 'stored'
