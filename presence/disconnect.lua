-- Unregister a user from this node (its last device of the user left): the
-- user step, in the user's slot; the caller then removes the user from the
-- node's set (SREM, the node's slot).
-- KEYS[1] the user's nodes (zset)  KEYS[2] the user's "at" (string)
-- ARGV[1] node id  ARGV[2] now ms  ARGV[3] ttl ms of "at"
-- Returns 1 when the user just went offline (no other node holds them), else 0.
if redis.call('ZREM', KEYS[1], ARGV[1]) == 0 then return 0 end
if redis.call('ZCOUNT', KEYS[1], '(' .. ARGV[2], '+inf') > 0 then return 0 end
-- Whatever is left is stale entries of dead nodes: their sweep finds
-- nothing to remove and announces nothing twice.
redis.call('DEL', KEYS[1])
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
return 1
