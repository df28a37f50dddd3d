-- Prelude of every conversation step (prepended in Go, after events.lua
-- and guard.lua): the step numbers the conversation's change as an op and
-- records the op's fan-out as pending, in the same atomic script.

-- new_op records an op of the conversation: the next op number (above the
-- counter and above every op still pending, so a lost counter does not
-- repeat a pending one), its JSON in the fan-out hash and its number in
-- the pending set (scored by the number itself, so pending ops read in
-- order). parts lists each participant's effects (see apply.lua); ts is
-- the op's epoch ms. Returns the op number and its JSON.
-- floor, when given, is pending_top(pending_key) read by the caller before
-- its first write (that read fails on a key of another kind, so the key
-- needs no check_keys then).
-- With later set (a send as one script, send_fused.lua) it records
-- nothing and returns the op as a table: the script records it
-- (record_op) only if it stops before every participant step applied it.
--   ops_key counter   fanout_key hash op -> JSON   pending_key zset op -> op
-- pending_top is the highest op still pending in pending_key (0: none);
-- pending_tops keeps what it read, for send_fused.lua (which records
-- nothing pending before its done step).
local pending_tops = {}
local function pending_top(pending_key)
  local top = redis.call('ZRANGE', pending_key, -1, -1, 'WITHSCORES')
  pending_tops[pending_key] = tonumber(top[2]) or 0
  return pending_tops[pending_key]
end
local function new_op(ops_key, fanout_key, pending_key, ts, parts, later, floor)
  local n = next_counter(ops_key, floor or pending_top(pending_key))
  local op = {n = tostring(n), ts = tostring(ts), p = parts}
  if later then return n, op end
  local raw = cjson.encode(op)
  redis.call('HSET', fanout_key, int(n), raw)
  redis.call('ZADD', pending_key, int(n), int(n))
  return n, raw
end

-- record_op records op n (a table of new_op) as pending; returns its JSON.
local function record_op(fanout_key, pending_key, n, op)
  local raw = cjson.encode(op)
  redis.call('HSET', fanout_key, int(n), raw)
  redis.call('ZADD', pending_key, int(n), int(n))
  return raw
end

-- Tables in an op are never shared between participants: the embedded
-- store's cjson takes a table met twice for a cycle.

-- Each conversation step has dry, true when the step only checks (ARGV[1]
-- == 'dry'; set by its wrapper, steps.go): Go runs every conversation
-- step once dry before the guards spend a budget, so a step that would
-- fail on a corrupt key fails before anything is written.
