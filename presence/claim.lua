-- Claim a dead node for sweeping, in the node's slot: only one caller ever wins.
-- KEYS[1] the node's heartbeat (string, epoch ms)  KEYS[2] the node's users (set)  KEYS[3] the claim (set)
-- ARGV[1] deadline ms (a last heartbeat at or before it is dead)  ARGV[2] ttl ms of the claim
-- Returns the dead node's last heartbeat ms when this caller claimed it (its
-- users are moved to KEYS[3] for the caller to evict), -1 when the node is
-- alive, -2 when it has no heartbeat key (claimed already, or left): the
-- caller then only drops the node's registry entry.
local hb = redis.call('GET', KEYS[1])
if not hb then return -2 end
if tonumber(hb) > tonumber(ARGV[1]) then return -1 end
redis.call('DEL', KEYS[1])
if redis.call('EXISTS', KEYS[2]) == 1 then
  redis.call('RENAME', KEYS[2], KEYS[3])
  redis.call('PEXPIRE', KEYS[3], ARGV[2])
end
return tonumber(hb)
