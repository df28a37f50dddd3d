-- Claim a dead node for sweeping: only one caller ever wins.
-- KEYS[1] the node registry (zset)  KEYS[2] the dead node's users (set)  KEYS[3] the claim (set)
-- ARGV[1] dead node id  ARGV[2] deadline ms (a last heartbeat at or before it is dead)
-- ARGV[3] ttl ms of the claim
-- Returns the dead node's last heartbeat ms when this caller claimed it (its
-- users are moved to KEYS[3] for the caller to evict), else -1.
local hb = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not hb or tonumber(hb) > tonumber(ARGV[2]) then return -1 end
redis.call('ZREM', KEYS[1], ARGV[1])
if redis.call('EXISTS', KEYS[2]) == 1 then
  redis.call('RENAME', KEYS[2], KEYS[3])
  redis.call('PEXPIRE', KEYS[3], ARGV[3])
end
return tonumber(hb)
