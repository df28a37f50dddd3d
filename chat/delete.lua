-- Delete a message if it is still what the caller read, then point both inbox
-- entries at the conversation's new latest message, or drop them when the
-- conversation is empty.
-- KEYS[1] DM sorted set  KEYS[2] message hash  KEYS[3] inbox of A  KEYS[4] inbox of B
-- KEYS[5] time index (id -> epoch ms)
-- ARGV[1] message id  ARGV[2] expected JSON  ARGV[3] member for A  ARGV[4] member for B
-- Returns 1 deleted, 0 no such message, -1 it changed since it was read.
local cur = redis.call('HGET', KEYS[2], ARGV[1])
if not cur then return 0 end
if cur ~= ARGV[2] then return -1 end
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[5], ARGV[1])
local last = redis.call('ZRANGE', KEYS[1], -1, -1)
if #last == 0 then
  redis.call('ZREM', KEYS[3], ARGV[3])
  redis.call('ZREM', KEYS[4], ARGV[4])
  return 1
end
local body = redis.call('HGET', KEYS[2], last[1])
local epoch = string.format('%d', cjson.decode(body)['epoch'])
redis.call('ZADD', KEYS[3], epoch, ARGV[3])
redis.call('ZADD', KEYS[4], epoch, ARGV[4])
return 1
