-- ARGV[3] a kind (`category.kind`). Pauses it: the lease holds its jobs aside. Returns 1, or 0
-- when it was paused already.
return redis.call('SADD', paused, ARGV[3])
