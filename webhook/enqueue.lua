-- Queue webhooks in one shard, each at most once per id within the
-- maximum age: an id already in the dedupe set is skipped, so a retry of
-- Enqueue or a repair loop running it again adds nothing. Ids older than
-- the maximum age leave the dedupe set first, which bounds it.
-- KEYS[1] queue stream  KEYS[2] dedupe ids (zset)
-- ARGV[1] now (epoch ms)  ARGV[2] max age (ms)
-- ARGV[3], ARGV[4], ... pairs of webhook id, record JSON
-- Returns the number of webhooks queued (not skipped).
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. (tonumber(ARGV[1]) - tonumber(ARGV[2])))
local added = 0
for i = 3, #ARGV, 2 do
  if redis.call('ZADD', KEYS[2], 'NX', ARGV[1], ARGV[i]) == 1 then
    redis.call('XADD', KEYS[1], '*', 'r', ARGV[i + 1])
    added = added + 1
  end
end
return added
