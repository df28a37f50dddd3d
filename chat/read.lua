-- The conversation step of a read receipt: A's side of a DM read up to a
-- message, and optionally (a "seen" edit) replace that message's JSON if it
-- is still what the caller read, so the per-message status and the horizon
-- move together. Records the fan-out (see fanout.lua, apply.lua): A's
-- horizon moves to the message if that is further (A's unread in the DM
-- becomes the messages after it), and both get message:read (A only if the
-- horizon moved); a "seen" edit first gives both message:edit.
-- KEYS[1] DM sorted set  KEYS[2] message hash
-- KEYS[3] op counter  KEYS[4] fan-out hash  KEYS[5] pending ops
-- ARGV[1] 'dry' (check only) or 'run'  ARGV[2] message id  ARGV[3] A's id (reader)
-- ARGV[4] B's id  ARGV[5] epoch ms
-- ARGV[6] expected message JSON ("" = no edit)  ARGV[7] new message JSON
-- Returns {1, op, op JSON, seq} ({1, 0, '', seq} when dry), {0} no such
-- message, {-1} the message changed since it was read.
check_keys(KEYS, 'zset hash counter hash zset')
local seq = redis.call('ZSCORE', KEYS[1], ARGV[2])
if not seq then return {0} end
if ARGV[6] ~= '' then
  local cur = redis.call('HGET', KEYS[2], ARGV[2])
  if not cur then return {0} end
  if cur ~= ARGV[6] then return {-1} end
end
if dry then return {1, 0, '', tonumber(seq)} end
local a_ev, b_ev = {}, {}
if ARGV[6] ~= '' then
  redis.call('HSET', KEYS[2], ARGV[2], ARGV[7])
  a_ev[1] = {t = 'message:edit', f = msg_fields(ARGV[7])}
  b_ev[1] = {t = 'message:edit', f = msg_fields(ARGV[7])}
end
local fields = '"upTo":"' .. ARGV[2] .. '","reader":"' .. ARGV[3] .. '"'
a_ev[#a_ev + 1] = {t = 'message:read', f = fields, m = '1'}
b_ev[#b_ev + 1] = {t = 'message:read', f = fields}
local after = redis.call('ZCOUNT', KEYS[1], '(' .. seq, '+inf')
local n, raw = new_op(KEYS[3], KEYS[4], KEYS[5], ARGV[5], {
  {u = ARGV[3], peer = ARGV[4], read = seq .. ':' .. ARGV[2] .. ':' .. ARGV[5], unread = 'set:' .. after, ev = a_ev},
  {u = ARGV[4], peer = ARGV[3], ev = b_ev}})
return {1, n, raw, tonumber(seq)}
