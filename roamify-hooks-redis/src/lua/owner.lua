-- ARGV[3]: the application connecting. Returns { owner, adopted }: the
-- recorded owner (this application's name when none was recorded, which is then recorded), and
-- 1 when the keys held deliveries but no owner (written by an earlier release: adopted).
local owner = prefix .. 'owner'
local current = redis.call('GET', owner)
if current then
  return { current, 0 }
end
redis.call('SET', owner, ARGV[3])
local used = redis.call('EXISTS', stream, live, dead)
return { ARGV[3], used > 0 and 1 or 0 }
