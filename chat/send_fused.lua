-- A whole send as one script, on a single Redis (Limits.SingleNode: every
-- key on one server, so one script may span the slots): the steps Send
-- runs one by one otherwise (fanout.go), the same functions in the same
-- order (steps.go), stopping at the first step that does not answer ok or
-- fails; Go goes on from that step the ordinary way, so refusals, retries,
-- gaps and errors are handled exactly as there.
-- KEYS[1..8] the conversation step's (send.lua)
-- KEYS[9..16] the recipient's guard step's (guard_step.lua): blocks,
-- bucket, then B's participant keys (apply.lua's, KEYS[11..16])
-- KEYS[17..25] the sender's guard step's: A's participant keys are
-- KEYS[19..24]  KEYS[26] the pending index shard (FanoutIndex)
-- ARGV[1..8] send.lua's ('run', id, message, epoch ms, A, B, fingerprint,
-- window)  ARGV[9..16] B's guard step's  ARGV[17..24] A's guard step's
-- ARGV[25] the conversation's key  ARGV[26] event log length
-- ARGV[27] event log age ms  ARGV[28] index score  ARGV[29] index member
-- ARGV[30] '1' to stop before done (a notifier hears of the op first)
-- Returns {stage, reply, A's guard reply, conversation step reply}: stage
-- where it stopped (steps.go: 0 retry, 1 B's guard, 2 A's guard, 3 index,
-- 4 conversation, 5 participants, 6 done, 7 all done) and that step's
-- reply ({} when it failed: Go runs it again); {} for replies not reached.
-- Stopped at 5 or 6, the op is recorded as pending and the send indexed,
-- as step by step; stopped before, neither is.
local function slice(t, i, j)
  local out = {}
  for k = i, j do out[#out + 1] = t[k] end
  return out
end
local function stop(stage, reply, ga, cv) return {stage, reply or {}, ga or {}, cv or {}} end
local ok, rec, ga, cv
if ARGV[7] ~= '' then
  ok, rec = pcall(redis.call, 'GET', KEYS[8])
  if not ok then return stop(0) end
  if rec then return stop(0, {rec}) end
end
local gb
ok, gb = pcall(guard_step, slice(KEYS, 9, 16), slice(ARGV, 9, 16))
if not ok then return stop(1) end
if gb[1] ~= 'ok' then return stop(1, gb) end
ok, ga = pcall(guard_step, slice(KEYS, 17, 25), slice(ARGV, 17, 24))
if not ok then return stop(2) end
if ga[1] ~= 'ok' then return stop(2, ga) end
-- The op is recorded as pending, and the send in the index, only if the
-- script stops after the conversation step (atomic: nobody can see it
-- between), so a send that completes here writes neither.
local function pending(stage)
  local ok1, raw = pcall(record_op, KEYS[6], KEYS[7], cv[3], cv[4])
  local ok2 = pcall(redis.call, 'ZADD', KEYS[26], ARGV[28], ARGV[29])
  if not ok1 or not ok2 then error(raw) end
  return stop(stage, nil, ga, {cv[1], cv[2], cv[3], raw})
end
local cargs = slice(ARGV, 1, 8)
cargs[1] = 'fused'
ok, cv = pcall(send_step, slice(KEYS, 1, 8), cargs)
if not ok then return stop(3, nil, ga) end -- Go indexes, then runs the step
if cv[1] ~= 'ok' then return stop(4, cv, ga) end
-- The participant steps, in the op's order: A, then B.
for _, p in ipairs({{19, ARGV[5]}, {11, ARGV[6]}}) do
  local r
  ok, r = pcall(apply_step, slice(KEYS, p[1], p[1] + 5),
    {ARGV[25], int(cv[3]), cv[4], p[2], '', ARGV[26], ARGV[27], ''})
  if not ok or r[1] ~= 'ok' then return pending(5) end
end
if ARGV[30] == '1' then return pending(6) end
-- Done: op n is applied everywhere, and every earlier op (no step
-- answered a gap) that is still pending, its writer gone before done.
-- Nothing is pending when the send step found no op pending (this script
-- recorded none since).
if pending_tops[KEYS[7]] ~= 0 and redis.call('ZCARD', KEYS[7]) > 0 and
    not pcall(done_step, {KEYS[6], KEYS[7]}, {int(cv[3])}) then
  return pending(6)
end
return stop(7, nil, ga, {cv[1], cv[2], cv[3], ''})
