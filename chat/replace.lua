-- Replace a message's JSON if it is still what the caller read (compare-and-set),
-- so an edit decided on in Go never overwrites a concurrent change, and log and
-- publish a message:edit event for both users. A is the caller (the author).
-- KEYS[1] message hash
-- KEYS[2] A's event counter  KEYS[3] A's event log  KEYS[4] B's event counter  KEYS[5] B's event log
-- KEYS[6] users A blocked  KEYS[7] users B blocked  KEYS[8] A's write bucket
-- ARGV[1] message id  ARGV[2] expected JSON  ARGV[3] new JSON
-- ARGV[4] B's id  ARGV[5] A's id  ARGV[6] epoch ms  ARGV[7] event log length  ARGV[8] event log age ms
-- ARGV[9] writes per second (0: no limit)  ARGV[10] burst
-- Returns 1 replaced, 0 no such message, -1 it changed since it was read,
-- or a refusal of guard.lua (a block either way, A's budget spent).
check_keys('hash counter stream counter stream set set hash')
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if not cur then return 0 end
if cur ~= ARGV[2] then return -1 end
local refused = contact_refusal(KEYS[6], KEYS[7], ARGV[5], ARGV[4]) or spend(KEYS[8], ARGV[9], ARGV[10])
if refused then return refused end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
append_event(KEYS[2], KEYS[3], 'message:edit', ARGV[4], ARGV[6], msg_fields(ARGV[3]), ARGV[7], ARGV[8])
append_event(KEYS[4], KEYS[5], 'message:edit', ARGV[5], ARGV[6], msg_fields(ARGV[3]), ARGV[7], ARGV[8])
return 1
