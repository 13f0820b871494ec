-- ARGV[3] key. Deletes a dead letter (its dedupe mark expires on its own); returns 1, or 0
-- when the key is not a dead letter.
local key = ARGV[3]
local job = job_key(key)
if redis.call('HGET', job, 'state') ~= STATE.dead then
  return 0
end
redis.call('ZREM', dead, key)
redis.call('DEL', job)
history_settled(key, 'discarded', '', '', '', now_ms())
return 1
