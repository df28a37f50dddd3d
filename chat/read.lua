-- Mark A's side of a DM read up to a message, and optionally (a "seen" edit)
-- replace that message's JSON if it is still what the caller read, so the
-- per-message status and the horizon move together.
-- KEYS[1] DM sorted set  KEYS[2] message hash  KEYS[3] A's read horizons  KEYS[4] A's unread total
-- KEYS[5] A's event counter  KEYS[6] A's event log  KEYS[7] B's event counter  KEYS[8] B's event log
-- ARGV[1] message id  ARGV[2] A's id  ARGV[3] B's id  ARGV[4] epoch ms
-- ARGV[5] event log length  ARGV[6] event log age ms
-- ARGV[7] expected message JSON ("" = no edit)  ARGV[8] new message JSON
-- KEYS[9] users A blocked  KEYS[10] users B blocked  KEYS[11] A's write bucket
-- ARGV[9] writes per second (0: no limit)  ARGV[10] burst
-- Returns {code, horizon, unread}: code 0 no such message, -1 the message
-- changed since it was read, 1 done (the horizon was already there or
-- further), 2 the horizon moved; horizon is A's mark ("" if none); unread
-- counts the messages after it. Or a refusal of guard.lua: a block either
-- way, or A's budget spent (only a call that writes spends: a "seen" edit,
-- or a horizon that moves).
-- move_read sets reader's horizon in the DM (dm_key) to message id at seq
-- when that is further than it was: the messages passed (all the peer's:
-- a user's own sends move their horizon) leave the unread total, and both
-- users get a message:read event. Returns the number of messages passed.
--   r  {read_key, unread_key, a_seq, a_log, b_seq, b_log}: reader is A
local function move_read(dm_key, r, reader, peer, id, seq, ts, max_len, max_age)
  local h = read_seq(r[1], peer)
  if seq <= h then return 0 end
  local passed = redis.call('ZCOUNT', dm_key, '(' .. h, seq)
  lower_unread(r[2], passed)
  redis.call('HSET', r[1], peer, seq .. ':' .. id .. ':' .. ts)
  local fields = '"upTo":"' .. id .. '","reader":"' .. reader .. '"'
  append_event(r[3], r[4], 'message:read', peer, ts, fields, max_len, max_age)
  append_event(r[5], r[6], 'message:read', reader, ts, fields, max_len, max_age)
  return passed
end

check_keys('zset hash hash counter counter stream counter stream set set hash')
local seq = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not seq then return {0, '', 0} end
if ARGV[7] ~= '' then
  local cur = redis.call('HGET', KEYS[2], ARGV[1])
  if not cur then return {0, '', 0} end
  if cur ~= ARGV[7] then return {-1, '', 0} end
end
local refused = contact_refusal(KEYS[9], KEYS[10], ARGV[2], ARGV[3])
if not refused and (ARGV[7] ~= '' or tonumber(seq) > read_seq(KEYS[3], ARGV[3])) then
  refused = spend(KEYS[11], ARGV[9], ARGV[10])
end
if refused then return refused end
if ARGV[7] ~= '' then
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[8])
  append_event(KEYS[5], KEYS[6], 'message:edit', ARGV[3], ARGV[4], msg_fields(ARGV[8]), ARGV[5], ARGV[6])
  append_event(KEYS[7], KEYS[8], 'message:edit', ARGV[2], ARGV[4], msg_fields(ARGV[8]), ARGV[5], ARGV[6])
end
local code = 1
-- move_read passes at least the message itself when the horizon moves.
if move_read(KEYS[1], {KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8]}, ARGV[2], ARGV[3],
    ARGV[1], tonumber(seq), ARGV[4], ARGV[5], ARGV[6]) > 0 then
  code = 2
end
local mark = redis.call('HGET', KEYS[3], ARGV[3]) or ''
return {code, mark, redis.call('ZCOUNT', KEYS[1], '(' .. read_seq(KEYS[3], ARGV[3]), '+inf')}
