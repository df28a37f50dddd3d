-- Undo a guard step's spend (guard_step.lua) when the write's
-- conversation step then wrote nothing (a retry found there, a key of the
-- wrong kind), in the writer's slot: the bucket gets back the fields it
-- had, unless another write spent from it since; a client id record the
-- guard created goes.
-- KEYS[1] the writer's bucket  KEYS[2] the writer's client id record (or any key of the slot)
-- ARGV[1] old t  ARGV[2] old us ('' = the bucket did not exist)
-- ARGV[3] new t  ARGV[4] new us ('' = nothing was spent)  ARGV[5] '1' to delete KEYS[2]
if ARGV[3] ~= '' and redis.call('TYPE', KEYS[1])['ok'] == 'hash' then
  local cur = redis.call('HMGET', KEYS[1], 't', 'us')
  if cur[1] == ARGV[3] and cur[2] == ARGV[4] then
    if ARGV[1] == '' then
      redis.call('DEL', KEYS[1])
    else
      redis.call('HSET', KEYS[1], 't', ARGV[1], 'us', ARGV[2])
    end
  end
end
if ARGV[5] == '1' then redis.call('DEL', KEYS[2]) end
return 1
