-- Remove a claimed dead node from a batch of its users.
-- KEYS[1] the claim (set)  then per user: KEYS[2i] the user's nodes (zset), KEYS[2i+1] the user's "at"
-- ARGV[1] dead node id  ARGV[2] now ms  ARGV[3] last seen ms (the dead node's last heartbeat)
-- ARGV[4] ttl ms of "at"  ARGV[5..] the users' members, in KEYS order
-- Returns one integer per user: the epoch ms they were last seen when they
-- just went offline (the later of the dead node's last heartbeat and when
-- they came online), else 0.
local out = {}
local users = (#KEYS - 1) / 2
for i = 0, users - 1 do
  local z, at = KEYS[2 + 2 * i], KEYS[3 + 2 * i]
  redis.call('SREM', KEYS[1], ARGV[5 + i])
  local gone = 0
  if redis.call('ZREM', z, ARGV[1]) == 1 and redis.call('ZCOUNT', z, '(' .. ARGV[2], '+inf') == 0 then
    redis.call('DEL', z)
    gone = math.max(tonumber(ARGV[3]), tonumber(redis.call('GET', at) or '0'))
    redis.call('SET', at, gone, 'PX', ARGV[4])
  end
  out[#out + 1] = gone
end
return out
