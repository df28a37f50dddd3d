-- Move a shard's due retries back into its queue, at most ARGV[2] of them.
-- KEYS[1] retry set (zset)  KEYS[2] queue stream
-- ARGV[1] now (epoch ms)  ARGV[2] limit
-- Returns the epoch ms the next retry left in the set is due, or -1 when
-- none is.
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
for _, r in ipairs(due) do
  redis.call('XADD', KEYS[2], '*', 'r', r)
  redis.call('ZREM', KEYS[1], r)
end
local head = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if #head == 0 then
  return -1
end
return tonumber(head[2])
