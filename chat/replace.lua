-- Replace a message's JSON if it is still what the caller read (compare-and-set),
-- so an edit decided on in Go never overwrites a concurrent change.
-- KEYS[1] message hash
-- ARGV[1] message id  ARGV[2] expected JSON  ARGV[3] new JSON
-- Returns 1 replaced, 0 no such message, -1 it changed since it was read.
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if not cur then return 0 end
if cur ~= ARGV[2] then return -1 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return 1
