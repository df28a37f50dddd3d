-- Remove a claimed dead node from one of its users, in the user's slot; the
-- caller then removes the user from the claim (SREM, the node's slot).
-- KEYS[1] the user's nodes (zset)  KEYS[2] the user's "at" (string)
-- ARGV[1] dead node id  ARGV[2] now ms  ARGV[3] last seen ms (the dead node's last heartbeat)
-- ARGV[4] ttl ms of "at"
-- Returns the epoch ms the user was last seen when they just went offline
-- (the later of the dead node's last heartbeat and when they came online),
-- else 0.
if redis.call('ZREM', KEYS[1], ARGV[1]) == 1 and redis.call('ZCOUNT', KEYS[1], '(' .. ARGV[2], '+inf') == 0 then
  redis.call('DEL', KEYS[1])
  local gone = math.max(tonumber(ARGV[3]), tonumber(redis.call('GET', KEYS[2]) or '0'))
  redis.call('SET', KEYS[2], gone, 'PX', ARGV[4])
  return gone
end
return 0
