-- Heartbeat: push this node's registry entry and its users' expiries forward.
-- KEYS[1] the node registry (zset)  KEYS[2..n] users' nodes (zsets)
-- ARGV[1] node id  ARGV[2] now ms  ARGV[3] expiry ms  ARGV[4] ttl ms of the users' keys
-- Returns -1 when this node is no longer registered (a sweeper declared it
-- dead; nothing is written), else the number of user entries refreshed.
-- XX: an entry removed meanwhile (the user left) is not brought back.
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return -1 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
local n = 0
for i = 2, #KEYS do
  if redis.call('ZADD', KEYS[i], 'XX', 'CH', ARGV[3], ARGV[1]) == 1 then
    redis.call('PEXPIRE', KEYS[i], ARGV[4])
    n = n + 1
  end
end
return n
