-- The conversation step of a send: unless it is a retry (same client id),
-- append the message to the DM and record its fan-out (see fanout.lua):
-- both participants' inbox entry, unread counts, the sender's read
-- horizon (a reply means A has read what came before) and message:new for
-- both, applied by apply.lua in each user's slot. Every key is in the
-- conversation's slot.
-- KEYS[1] DM sorted set (id -> seq)   KEYS[2] message hash (id -> JSON)
-- KEYS[3] sequence counter            KEYS[4] time index (id -> epoch ms)
-- KEYS[5] op counter  KEYS[6] fan-out hash  KEYS[7] pending ops
-- KEYS[8] A's client id record (unused when ARGV[7] is "")
-- ARGV[1] 'dry' (check only: keys and client id), 'run', or 'fused' (in
-- send_fused.lua, which checked the client id record: the op is not
-- recorded and the reply holds it as a table, see new_op)
-- ARGV[2] message id  ARGV[3] message JSON  ARGV[4] epoch ms
-- ARGV[5] A's id (sender)  ARGV[6] B's id
-- ARGV[7] request fingerprint, "" without a client id  ARGV[8] client id window ms
-- Returns {'ok', seq, op, op JSON} | {'dry'} | {'dup', record}, where record
-- is "<fingerprint>\n<seq>\n<message JSON>\n<op>" of the first send.
-- Not checked (no TYPE), as each is read before the step's first write,
-- and the read fails on a key of another kind: the DM and the pending ops
-- (ZRANGE below), the client id record (GET: here, or in send_fused.lua
-- before it calls this step; SET cannot fail).
check_keys(KEYS, '- hash counter zset counter hash - -')
if ARGV[7] ~= '' and ARGV[1] ~= 'fused' then
  local rec = redis.call('GET', KEYS[8])
  if rec then return {'dup', rec} end
end
local ops_floor = pending_top(KEYS[7])
if dry then return {'dry'} end
-- The sequence goes on above the conversation's last message even if its
-- counter was lost, so two messages never share a place.
local top = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
local seq = next_counter(KEYS[3], tonumber(top[2]) or 0)
redis.call('ZADD', KEYS[1], int(seq), ARGV[2])
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
redis.call('ZADD', KEYS[4], ARGV[4], ARGV[2])
local function ev() return {{t = 'message:new', f = msg_fields(ARGV[3])}} end
-- A's horizon moves to the new message and A's unread in this DM is
-- cleared; no message:read event: the message:new itself tells B that A
-- has read everything before it.
local n, raw = new_op(KEYS[5], KEYS[6], KEYS[7], ARGV[4], {
  {u = ARGV[5], peer = ARGV[6], inbox = ARGV[4], unread = 'clear',
   read = seq .. ':' .. ARGV[2] .. ':' .. ARGV[4], ev = ev()},
  {u = ARGV[6], peer = ARGV[5], inbox = ARGV[4], unread = '+1', ev = ev()}}, ARGV[1] == 'fused', ops_floor)
if ARGV[7] ~= '' then
  redis.call('SET', KEYS[8], ARGV[7] .. '\n' .. seq .. '\n' .. ARGV[3] .. '\n' .. n, 'PX', ARGV[8])
end
return {'ok', seq, n, raw}
