-- Delete a message if it is still what the caller read, point both inbox
-- entries at the conversation's new latest message (or drop them when the
-- conversation is empty), take it off B's unread total if B had not read it,
-- and log and publish a message:delete event for both. A is the author.
-- KEYS[1] DM sorted set  KEYS[2] message hash  KEYS[3] inbox of A  KEYS[4] inbox of B
-- KEYS[5] A's event counter  KEYS[6] A's event log  KEYS[7] B's event counter  KEYS[8] B's event log
-- KEYS[9] time index (id -> epoch ms)  KEYS[10] B's read horizons  KEYS[11] B's unread total
-- ARGV[1] message id  ARGV[2] expected JSON  ARGV[3] member for A  ARGV[4] member for B
-- KEYS[12] users A blocked  KEYS[13] users B blocked  KEYS[14] A's write bucket
-- ARGV[5] B's id  ARGV[6] A's id  ARGV[7] epoch ms  ARGV[8] event log length  ARGV[9] event log age ms
-- ARGV[10] '1' when A deletes their own message (blocks and A's budget
-- apply), '' for a moderator's delete  ARGV[11] writes per second (0: no limit)  ARGV[12] burst
-- Returns 1 deleted, 0 no such message, -1 it changed since it was read,
-- or a refusal of guard.lua (a block either way, A's budget spent).
-- A moderator's delete neither reads nor spends the guard's keys.
if ARGV[10] == '1' then
  check_keys('zset hash zset zset counter stream counter stream zset hash counter set set hash')
else
  check_keys('zset hash zset zset counter stream counter stream zset hash counter - - -')
end
local cur = redis.call('HGET', KEYS[2], ARGV[1])
if not cur then return 0 end
if cur ~= ARGV[2] then return -1 end
-- The conversation's latest message once this one is gone, and its time,
-- read before the first write (the guard's spend): a message whose JSON
-- cannot be read fails the delete before it changes anything.
local newest = redis.call('ZRANGE', KEYS[1], -2, -1)
local latest = newest[#newest]
if latest == ARGV[1] then latest = newest[#newest - 1] end
local epoch
if latest then
  local ok, m = pcall(cjson.decode, redis.call('HGET', KEYS[2], latest) or '')
  epoch = ok and type(m) == 'table' and tonumber(m['epoch'])
  if not epoch then
    return redis.error_reply('ERR message ' .. latest .. ' in ' .. KEYS[2] .. ' has no readable epoch')
  end
end
if ARGV[10] == '1' then
  local refused = contact_refusal(KEYS[12], KEYS[13], ARGV[6], ARGV[5]) or spend(KEYS[14], ARGV[11], ARGV[12])
  if refused then return refused end
end
local seq = tonumber(redis.call('ZSCORE', KEYS[1], ARGV[1]))
if seq and seq > read_seq(KEYS[10], ARGV[6]) then lower_unread(KEYS[11], 1) end
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[9], ARGV[1])
append_event(KEYS[5], KEYS[6], 'message:delete', ARGV[5], ARGV[7], msg_fields(ARGV[2]), ARGV[8], ARGV[9])
append_event(KEYS[7], KEYS[8], 'message:delete', ARGV[6], ARGV[7], msg_fields(ARGV[2]), ARGV[8], ARGV[9])
if not latest then
  redis.call('ZREM', KEYS[3], ARGV[3])
  redis.call('ZREM', KEYS[4], ARGV[4])
  return 1
end
epoch = string.format('%d', epoch)
redis.call('ZADD', KEYS[3], epoch, ARGV[3])
redis.call('ZADD', KEYS[4], epoch, ARGV[4])
return 1
