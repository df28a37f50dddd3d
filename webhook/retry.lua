-- Schedule a webhook's retry: it leaves the queue (acked and deleted) and
-- waits in the retry set until it is due, in one step, so it is never in
-- neither nor in both.
-- KEYS[1] queue stream  KEYS[2] retry set (zset)
-- ARGV[1] consumer group  ARGV[2] stream entry id  ARGV[3] due (epoch ms)
-- ARGV[4] the record JSON to retry (attempts and last error updated)
-- Returns 1, or 0 when the entry was no longer in the queue (another node
-- settled it; nothing is scheduled).
if redis.call('XACK', KEYS[1], ARGV[1], ARGV[2]) == 0 then
  return 0
end
redis.call('XDEL', KEYS[1], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[4])
return 1
