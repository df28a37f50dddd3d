-- Register a user on this node (the node's first device of the user).
-- KEYS[1] the user's nodes (zset node -> expiry ms)  KEYS[2] the user's "at" (string, epoch ms)
-- KEYS[3] this node's users (set)  KEYS[4] the node registry (zset node -> last heartbeat ms)
-- ARGV[1] node id  ARGV[2] now ms  ARGV[3] expiry ms  ARGV[4] member "<domain>:<user>"
-- ARGV[5] ttl ms of the user's keys
-- Returns {1, now} when the user just came online, {0, since} when they were
-- online already (since: when they came online, 0 when unknown), {-1, 0} when
-- this node is no longer registered (a sweeper declared it dead): nothing is
-- written then, and the caller must take a new node id.
if not redis.call('ZSCORE', KEYS[4], ARGV[1]) then return {-1, 0} end
local live = redis.call('ZCOUNT', KEYS[1], '(' .. ARGV[2], '+inf')
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
redis.call('SADD', KEYS[3], ARGV[4])
if live == 0 then
  redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[5])
  return {1, tonumber(ARGV[2])}
end
return {0, tonumber(redis.call('GET', KEYS[2]) or '0')}
