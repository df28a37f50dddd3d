-- Append one message to a DM, move it to the top of both inboxes, and log
-- and publish a message:new event for both users.
-- KEYS[1] DM sorted set (id -> seq)   KEYS[2] message hash (id -> JSON)
-- KEYS[3] sequence counter            KEYS[4] inbox of A (sender)  KEYS[5] inbox of B
-- KEYS[6] A's event counter  KEYS[7] A's event log  KEYS[8] B's event counter  KEYS[9] B's event log
-- KEYS[10] time index (id -> epoch ms)
-- ARGV[1] message id  ARGV[2] message JSON  ARGV[3] epoch ms
-- ARGV[4] member for A's inbox ("user-<B>")  ARGV[5] member for B's inbox ("user-<A>")
-- ARGV[6] B's id  ARGV[7] A's id  ARGV[8] event log length  ARGV[9] event log age ms
-- Returns the message's sequence number in the conversation.
local seq = redis.call('INCR', KEYS[3])
redis.call('ZADD', KEYS[1], seq, ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[10], ARGV[3], ARGV[1])
redis.call('ZADD', KEYS[4], ARGV[3], ARGV[4])
redis.call('ZADD', KEYS[5], ARGV[3], ARGV[5])
append_event(KEYS[6], KEYS[7], 'message:new', ARGV[6], ARGV[3], ARGV[2], ARGV[8], ARGV[9])
append_event(KEYS[8], KEYS[9], 'message:new', ARGV[7], ARGV[3], ARGV[2], ARGV[8], ARGV[9])
return seq
