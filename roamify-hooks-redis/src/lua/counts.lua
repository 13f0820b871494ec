-- Returns { ready, leased, retrying, dead }.
local pending = redis.call('SCARD', live)
local leased = redis.call('ZCARD', leases)
-- Retries whose time came count as ready: the next lease moves them to the stream.
local retrying = redis.call('ZCOUNT', sched, '(' .. now_ms(), '+inf')
local ready = pending - leased - retrying
if ready < 0 then ready = 0 end
return { ready, leased, retrying, redis.call('ZCARD', dead) }
