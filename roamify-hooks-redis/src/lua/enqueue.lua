-- ARGV[3] key, ARGV[4] body, ARGV[5] dedupe window (ms), ARGV[6] capacity, ARGV[7] stream
-- ('' when not ordered), ARGV[8] its timestamp, ARGV[9] '1' when the stream is serial; for the
-- history: ARGV[10] category, ARGV[11] kind, ARGV[12] ICCID ('' for none), ARGV[13] entries
-- kept (0: no history), ARGV[14] their age (ms); ARGV[15] its `category.kind` (for pauses).
-- Returns 'stored', 'duplicate' or 'full'. The dedupe mark, the capacity check and the job are
-- written together or not at all.
local key, body, window, capacity = ARGV[3], ARGV[4], ARGV[5], tonumber(ARGV[6])
local order_stream, order_at, order_serial = ARGV[7], ARGV[8], ARGV[9]
local entries, age = tonumber(ARGV[13]), tonumber(ARGV[14])
local mark = prefix .. 'dk:' .. key
if redis.call('EXISTS', mark) == 1 then
  if entries > 0 and redis.call('EXISTS', history_key(key)) == 1 then
    redis.call('HINCRBY', history_key(key), 'duplicates', 1)
  end
  return 'duplicate'
end
local job = job_key(key)
local state = redis.call('HGET', job, 'state')
if state == STATE.ready or state == STATE.leased or state == STATE.scheduled or state == STATE.parked
    or state == STATE.held then
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
redis.call('HSET', job, 'body', body, 'attempts', 0, 'received', now_ms(),
  'stream', order_stream, 'at', order_at, 'serial', order_serial, 'kind', ARGV[15])
redis.call('SADD', live, key)
admit(key, order_stream, order_serial)
history_stored(key, ARGV[10], ARGV[11], ARGV[12], entries, age, now_ms())
return 'stored'
