-- A participant step: apply one op of a conversation to one participant,
-- in that user's slot (every key below is the user's). Idempotent: the
-- user's applied hash records the last op applied per conversation, so an
-- op applied twice changes nothing, and ops apply in order (a user never
-- sees op n+1 of a conversation before op n).
-- KEYS[1] applied (conversation key -> last op applied)  KEYS[2] inbox
-- KEYS[3] unread per peer (peer -> count; the user's unread total is
-- their sum)  KEYS[4] read horizons  KEYS[5] event counter
-- KEYS[6] event log
-- ARGV[1] the conversation's key  ARGV[2] op number  ARGV[3] op JSON (or,
-- called from send_fused.lua, the op as a table)
-- ARGV[4] the user's id  ARGV[5] '1' when Go checked that every earlier op
-- of the conversation is done (left the pending set), so a missing mark
-- is no gap  ARGV[6] event log length  ARGV[7] event log age ms
-- ARGV[8] '1' to answer the user's horizon and unread count in the DM
-- (read receipts need them; '' answers '' and 0, two reads fewer)
-- The op's entry for the user (op.p[i].u == ARGV[4]) holds its effects,
-- all optional:
--   peer    the other party: the field of unread, read, and inbox member "user-<peer>"
--   inbox   epoch ms: ZADD the peer's inbox entry; inbox_rm '1': ZREM it
--   unread  '+1' | 'clear' (this DM's unread -> 0) | 'set:<n>' (-> n) |
--           'del:<seq>' (one less if seq is after the user's horizon)
--   read    a horizon "<seq>:<id>:<ms>", set only if it is further than
--           the user's; when it is not, the unread effect and the events
--           with m = '1' are skipped (a read receipt that moved nothing)
--   ev      events {t = type, f = JSON members, m = '1'?} appended and published
-- Returns {status, moved, horizon, unread in the DM}: status 'ok' (applied),
-- 'done' (applied before) or {'gap', applied}: an earlier op is not applied
-- yet for the user; Go applies it first.
-- The applied ops, unread counts per peer and read horizons are read
-- (hget) before the first write, which checks their kind; so they need no
-- TYPE.
check_keys(KEYS, '- zset - - counter stream')
local n = tonumber(ARGV[2])
local applied = tonumber(hget(KEYS[1], ARGV[1]) or '0') or 0
local op = ARGV[3]
if type(op) ~= 'table' then op = cjson.decode(op) end
local e
for _, p in ipairs(op.p) do
  if p.u == ARGV[4] then e = p break end
end
if not e then return redis.error_reply('ERR op ' .. ARGV[2] .. ' has no part for ' .. ARGV[4]) end
local peer = e.peer
local function result(status, moved)
  if ARGV[8] ~= '1' then return {status, moved, '', 0} end
  return {status, moved, hget(KEYS[4], peer) or '',
    tonumber(hget(KEYS[3], peer) or '0') or 0}
end
if applied >= n then return result('done', 0) end
if applied < n - 1 and ARGV[5] ~= '1' then return {'gap', applied} end
-- Read before the first write (see check_keys above); in a send script
-- the guard step read them already.
hget(KEYS[3], peer)
hget(KEYS[4], peer)

local moved = 1
if e.read then
  local seq = tonumber(string.match(e.read, '^(%d+)') or '0')
  if seq > read_seq(KEYS[4], peer) then
    hset(KEYS[4], peer, e.read)
  else
    moved = 0
  end
end
if e.inbox_rm == '1' then
  redis.call('ZREM', KEYS[2], 'user-' .. peer)
elseif e.inbox then
  redis.call('ZADD', KEYS[2], e.inbox, 'user-' .. peer)
end
-- The unread count in this DM; 0 leaves the hash (so a user's total, the
-- sum of the hash, reads only DMs with something unread).
local u = e.unread
if u and moved == 1 then
  local by = tonumber(hget(KEYS[3], peer) or '0') or 0
  local arg = tonumber(string.match(u, ':(%d+)$') or '0')
  local to = by
  if u == '+1' then
    to = by + 1
  elseif u == 'clear' then
    to = 0
  elseif string.sub(u, 1, 4) == 'set:' then
    to = arg
  elseif string.sub(u, 1, 4) == 'del:' and arg > read_seq(KEYS[4], peer) then
    to = math.max(by - 1, 0)
  end
  if to > 0 then
    if to ~= by then hset(KEYS[3], peer, int(to)) end
  elseif hget(KEYS[3], peer) then
    hdel(KEYS[3], peer)
  end
end
for _, ev in ipairs(e.ev or {}) do
  if ev.m ~= '1' or moved == 1 then
    append_event(KEYS[5], KEYS[6], ev.t, peer, op.ts, ev.f, ARGV[6], ARGV[7])
  end
end
hset(KEYS[1], ARGV[1], int(n))
return result('ok', moved)
