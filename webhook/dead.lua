-- Dead-letter a webhook: it leaves the queue (acked and deleted) and is
-- appended to the dead stream, capped at about ARGV[4] entries, in one step.
-- KEYS[1] queue stream  KEYS[2] dead stream
-- ARGV[1] consumer group  ARGV[2] stream entry id  ARGV[3] record JSON
-- (attempts and the error that killed it)  ARGV[4] dead stream cap
-- Returns 1, or 0 when the entry was no longer in the queue (another node
-- settled it; nothing is written).
if redis.call('XACK', KEYS[1], ARGV[1], ARGV[2]) == 0 then
  return 0
end
redis.call('XDEL', KEYS[1], ARGV[2])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[4], '*', 'r', ARGV[3])
return 1
