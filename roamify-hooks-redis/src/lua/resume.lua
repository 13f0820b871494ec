-- ARGV[3] a kind (`category.kind`). Resumes it: its held jobs are queued again, in the order
-- they were held. Returns 1, or 0 when it was not paused.
local kind = ARGV[3]
if redis.call('SREM', paused, kind) == 0 then
  return 0
end
local list = held_by_pause(kind)
local key = redis.call('LPOP', list)
while key do
  if redis.call('HGET', job_key(key), 'state') == STATE.held then
    push(key)
  end
  key = redis.call('LPOP', list)
end
return 1
