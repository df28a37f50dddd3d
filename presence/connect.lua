-- Register a user on this node (the node's first device of the user): the
-- user step, in the user's slot, after join.lua put the user in the node's set.
-- KEYS[1] the user's nodes (zset node -> expiry ms)  KEYS[2] the user's "at" (string, epoch ms)
-- ARGV[1] node id  ARGV[2] now ms  ARGV[3] expiry ms  ARGV[4] ttl ms of the user's keys
-- Returns {1, now} when the user just came online, {0, since} when they were
-- online already (since: when they came online, 0 when unknown).
local live = redis.call('ZCOUNT', KEYS[1], '(' .. ARGV[2], '+inf')
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
if live == 0 then
  redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[4])
  return {1, tonumber(ARGV[2])}
end
return {0, tonumber(redis.call('GET', KEYS[2]) or '0')}
