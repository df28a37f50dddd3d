-- Forget a shard's consumers that hold nothing and have been idle for a
-- while: nodes that stopped (each process reads under its own name), so
-- the group's list of consumers stays bounded. A consumer with entries
-- pending is kept (deleting it would drop them); a live node deleted
-- here is recreated by its next read, and the script runs atomically, so
-- none can read in between.
-- KEYS[1] queue stream
-- ARGV[1] consumer group  ARGV[2] minimum idle (ms)
-- Returns the number of consumers deleted.
local deleted = 0
for _, c in ipairs(redis.call('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])) do
  local f = {}
  for i = 1, #c, 2 do
    f[c[i]] = c[i + 1]
  end
  if f['pending'] == 0 and f['idle'] > tonumber(ARGV[2]) then
    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], f['name'])
    deleted = deleted + 1
  end
end
return deleted
