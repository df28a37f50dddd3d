-- The conversation step of a delete: remove a message if it is still what
-- the caller read, and record the fan-out (see fanout.lua, apply.lua):
-- both inbox entries point at the conversation's new latest message (or
-- leave when the conversation is empty), B's unread loses it if B had not
-- read it, and both get message:delete. A is the author.
-- KEYS[1] DM sorted set  KEYS[2] message hash  KEYS[3] time index
-- KEYS[4] op counter  KEYS[5] fan-out hash  KEYS[6] pending ops
-- ARGV[1] 'dry' (check only) or 'run'  ARGV[2] message id  ARGV[3] expected JSON
-- ARGV[4] A's id  ARGV[5] B's id  ARGV[6] epoch ms
-- Returns {1, op, op JSON} deleted ({1} when dry), {0} no such message,
-- {-1} it changed since it was read.
check_keys(KEYS, 'zset hash zset counter hash zset')
local cur = redis.call('HGET', KEYS[2], ARGV[2])
if not cur then return {0} end
if cur ~= ARGV[3] then return {-1} end
-- The conversation's latest message once this one is gone, and its time,
-- read before the first write: a message whose JSON cannot be read fails
-- the delete before it changes anything.
local newest = redis.call('ZRANGE', KEYS[1], -2, -1)
local latest = newest[#newest]
if latest == ARGV[2] then latest = newest[#newest - 1] end
local epoch
if latest then
  local ok, m = pcall(cjson.decode, redis.call('HGET', KEYS[2], latest) or '')
  epoch = ok and type(m) == 'table' and tonumber(m['epoch'])
  if not epoch then
    return redis.error_reply('ERR message ' .. latest .. ' in ' .. KEYS[2] .. ' has no readable epoch')
  end
end
if dry then return {1} end
local seq = redis.call('ZSCORE', KEYS[1], ARGV[2]) or '0'
redis.call('HDEL', KEYS[2], ARGV[2])
redis.call('ZREM', KEYS[1], ARGV[2])
redis.call('ZREM', KEYS[3], ARGV[2])
local function ev() return {{t = 'message:delete', f = msg_fields(ARGV[3])}} end
local a = {u = ARGV[4], peer = ARGV[5], ev = ev()}
local b = {u = ARGV[5], peer = ARGV[4], unread = 'del:' .. seq, ev = ev()}
if latest then
  a.inbox = string.format('%d', epoch)
  b.inbox = a.inbox
else
  a.inbox_rm, b.inbox_rm = '1', '1'
end
local n, raw = new_op(KEYS[4], KEYS[5], KEYS[6], ARGV[6], {a, b})
return {1, n, raw}
