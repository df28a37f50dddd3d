-- Append one message to a DM and move it to the top of both inboxes.
-- KEYS[1] DM sorted set (id -> seq)   KEYS[2] message hash (id -> JSON)
-- KEYS[3] sequence counter            KEYS[4] inbox of party A   KEYS[5] inbox of party B
-- KEYS[6] time index (id -> epoch ms)
-- ARGV[1] message id  ARGV[2] message JSON  ARGV[3] epoch ms
-- ARGV[4] member for A's inbox ("user-<B>")  ARGV[5] member for B's inbox ("user-<A>")
-- Returns the message's sequence number in the conversation.
local seq = redis.call('INCR', KEYS[3])
redis.call('ZADD', KEYS[1], seq, ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[6], ARGV[3], ARGV[1])
redis.call('ZADD', KEYS[4], ARGV[3], ARGV[4])
redis.call('ZADD', KEYS[5], ARGV[3], ARGV[5])
return seq
