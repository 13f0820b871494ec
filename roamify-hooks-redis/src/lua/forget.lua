-- ARGV[3] this process's consumer, ARGV[4] idle time (ms). Removes other consumers of the group
-- that hold no pending entry and were idle longer than that (receivers that stopped; their
-- leases were reclaimed by others). Returns how many were removed.
local reply = redis.pcall('XINFO', 'CONSUMERS', stream, group)
if type(reply) ~= 'table' or reply.err then
  return 0
end
local removed = 0
for _, consumer in ipairs(reply) do
  local info = {}
  for i = 1, #consumer, 2 do
    info[consumer[i]] = consumer[i + 1]
  end
  if info['name'] ~= ARGV[3] and info['pending'] == 0 and info['idle'] > tonumber(ARGV[4]) then
    redis.call('XGROUP', 'DELCONSUMER', stream, group, info['name'])
    removed = removed + 1
  end
end
return removed
