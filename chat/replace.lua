-- The conversation step of an edit: replace a message's JSON if it is still
-- what the caller read (compare-and-set), so an edit decided on in Go never
-- overwrites a concurrent change, and record the fan-out of message:edit
-- to both users (see fanout.lua, apply.lua).
-- KEYS[1] message hash  KEYS[2] op counter  KEYS[3] fan-out hash  KEYS[4] pending ops
-- ARGV[1] 'dry' (check only) or 'run'  ARGV[2] message id  ARGV[3] expected JSON
-- ARGV[4] new JSON  ARGV[5] A's id (the caller)  ARGV[6] B's id  ARGV[7] epoch ms
-- Returns {1, op, op JSON} replaced ({1} when dry), {0} no such message,
-- {-1} it changed since it was read.
check_keys(KEYS, 'hash counter hash zset')
local cur = redis.call('HGET', KEYS[1], ARGV[2])
if not cur then return {0} end
if cur ~= ARGV[3] then return {-1} end
if dry then return {1} end
redis.call('HSET', KEYS[1], ARGV[2], ARGV[4])
local function ev() return {{t = 'message:edit', f = msg_fields(ARGV[4])}} end
local n, raw = new_op(KEYS[2], KEYS[3], KEYS[4], ARGV[7], {
  {u = ARGV[5], peer = ARGV[6], ev = ev()}, {u = ARGV[6], peer = ARGV[5], ev = ev()}})
return {1, n, raw}
