-- Replay one dead webhook: it leaves the dead stream and is queued again
-- with a fresh record (no attempts, first queued now), and its id is
-- marked queued now in the dedupe set, in one step. Replaying the same
-- dead entry twice queues it once.
-- KEYS[1] dead stream  KEYS[2] queue stream  KEYS[3] dedupe ids (zset)
-- ARGV[1] dead stream entry id  ARGV[2] webhook id  ARGV[3] now (epoch ms)
-- ARGV[4] the fresh record JSON
-- Returns 1, or 0 when the dead entry was gone (replayed already).
if redis.call('XDEL', KEYS[1], ARGV[1]) == 0 then
  return 0
end
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[2])
redis.call('XADD', KEYS[2], '*', 'r', ARGV[4])
return 1
