-- The guard of a write in one participant's slot (prepended: guard.lua):
-- before a conversation step, each participant's slot checks its keys
-- (so a corrupt key fails the write before anything is written), the
-- user's block list, and for the writer spends the budget. Writes nothing
-- but the writer's bucket.
-- KEYS[1] the user's blocks  KEYS[2] the user's bucket (the writer's; unused otherwise)
-- KEYS[3..8] the user's participant keys, as apply.lua: applied, inbox,
-- unread, unread per peer, read horizons, event counter, event log
-- ARGV[1] the other party  ARGV[2] the refusal when KEYS[1] holds ARGV[1]
-- ('blocked_by' in the recipient's slot, 'blocking' in the writer's; ''
-- checks no block: a moderator's delete)  ARGV[3] rate ('' spends nothing)
-- ARGV[4] burst  ARGV[5] a message seq ('' = none): spend only when it is
-- after the user's read horizon in the DM, else answer 'still' (a read
-- receipt that moves nothing costs nothing)
-- ARGV[6] the request's fingerprint ('' = no client id) and ARGV[7] the
-- window ms: a send's writer step also has KEYS[9] the sender's client
-- id record (see Keys.ClientID); a record with another fingerprint is
-- {'conflict'}; a spend records the fingerprint.
-- ARGV[8] the conversation's key (the user's field in the applied hash)
-- Returns {'ok', old t, old us, new t, new us, cid set} when it spent (the
-- bucket's fields before and after, '' when absent; cid set '1' when it
-- created the client id record), so Go can undo exactly the spend of a
-- write whose conversation step then failed (guard_refund.lua); {'ok'}
-- when it spent nothing; {'still', horizon, unread in the DM};
-- {'conflict'}; or a refusal of guard.lua.
-- The block list, the bucket and the client id record are not checked (no
-- TYPE): the step reads them (SISMEMBER, HMGET, GET) before its first
-- write, and that read fails on a key of another kind.
-- The applied ops, unread counts per peer and read horizons are not
-- checked either: the step reads the user's fields of the conversation in
-- them (hget, kept for the participant step of a send script) before its
-- first write.
check_keys(KEYS, '- - - zset - - counter stream')
hget(KEYS[3], ARGV[8])
hget(KEYS[5], ARGV[1])
hget(KEYS[6], ARGV[1])
local fp = ARGV[6]
if ARGV[2] ~= '' and redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 1 then return {ARGV[2]} end
local rec
if fp ~= '' then
  -- A record from before sends ran in steps holds more lines: the
  -- fingerprint is the first.
  rec = redis.call('GET', KEYS[9])
  if rec and string.match(rec, '^[^\n]*') ~= fp then return {'conflict'} end
end
if ARGV[5] ~= '' and tonumber(ARGV[5]) <= read_seq(KEYS[6], ARGV[1]) then
  return {'still', hget(KEYS[6], ARGV[1]) or '',
    tonumber(hget(KEYS[5], ARGV[1]) or '0') or 0}
end
if ARGV[3] == '' then return {'ok'} end
local refused, old, new = spend(KEYS[2], ARGV[3], ARGV[4])
if refused then return refused end
old, new = old or {}, new or {}
local cid_set = ''
if fp ~= '' then
  if not rec then cid_set = '1' end
  redis.call('SET', KEYS[9], fp, 'PX', ARGV[7])
end
return {'ok', old[1] or '', old[2] or '', new[1] or '', new[2] or '', cid_set}
