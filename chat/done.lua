-- Mark a conversation's fan-out done up to op n, in the conversation's
-- slot: op n was applied to every participant, and a participant step
-- applies every earlier op before a later one (apply.lua), so every op up
-- to n is applied everywhere: they all leave the fan-out hash and the
-- pending set (an earlier op whose writer died is thus completed by the
-- next op of the conversation, not only by the repair loop).
-- KEYS[1] fan-out hash  KEYS[2] pending ops
-- ARGV[1] op number
-- Returns the number of ops still pending (all after n).
local done = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1])
for i = 1, #done, 100 do
  redis.call('HDEL', KEYS[1], unpack(done, i, math.min(i + 99, #done)))
end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[1])
return redis.call('ZCARD', KEYS[2])
