-- ARGV[3] key. Queues a dead letter again with its attempts reset; returns 1, or 0 when the key
-- is not a dead letter.
local key = ARGV[3]
local job = job_key(key)
if redis.call('HGET', job, 'state') ~= STATE.dead then
  return 0
end
redis.call('ZREM', dead, key)
redis.call('HSET', job, 'attempts', 0)
redis.call('HDEL', job, 'dead_at')
redis.call('SADD', live, key)
local f = redis.call('HMGET', job, 'stream', 'serial')
admit(key, f[1] or '', f[2] or '0')
if redis.call('EXISTS', history_key(key)) == 1 then
  redis.call('HINCRBY', history_key(key), 'replays', 1)
  history_settled(key, 'pending', '', '', '', now_ms())
end
return 1
