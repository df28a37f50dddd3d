-- Add a user to this node's user set, the node step of a registration (the
-- node's slot; the user step, connect.lua, follows in the user's slot).
-- KEYS[1] this node's heartbeat (string, epoch ms)  KEYS[2] this node's users (set)
-- ARGV[1] member "<domain>:<user>"
-- Returns 0, or -1 when this node has no heartbeat key: a sweeper declared
-- it dead (the claim deletes the key) or it never registered. Nothing is
-- written then, and the caller must take a new node id.
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
redis.call('SADD', KEYS[2], ARGV[1])
return 0
