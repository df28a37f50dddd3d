-- Heartbeat, the node step (the node's slot): record that this node is alive.
-- KEYS[1] this node's heartbeat (string, epoch ms)
-- ARGV[1] now ms  ARGV[2] ttl ms of the key
-- Returns -1 when the key is gone (a sweeper declared this node dead, or it
-- never registered; nothing is written), else 0. The registry entry and the
-- users' expiries are pushed forward after it (other slots).
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 0
