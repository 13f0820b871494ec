-- Returns { {key, body, attempts, error, dead_at (ms), stream, at, serial}, ... }, oldest first
-- (stream '' when not ordered).
local out = {}
for _, key in ipairs(redis.call('ZRANGE', dead, 0, -1)) do
  local f = redis.call('HMGET', job_key(key), 'body', 'attempts', 'error', 'dead_at', 'stream', 'at', 'serial')
  if f[1] then
    out[#out + 1] = { key, f[1], f[2] or '0', f[3] or '', f[4] or '0', f[5] or '', f[6] or '0', f[7] or '0' }
  end
end
return out
