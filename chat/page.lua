-- Read part of a DM, oldest first, with the conversation's total, as one
-- snapshot. Every mode costs O(log N + page size).
-- KEYS[1] DM sorted set (id -> seq)  KEYS[2] message hash (id -> JSON)
-- KEYS[3] time index (id -> epoch ms; ties ordered by id)
-- ARGV[1] mode, then by mode:
--   'page'            ARGV[2] start rank  ARGV[3] stop rank (inclusive, counted from the newest)
--   'before'/'after'  ARGV[2] cursor id   ARGV[3] limit: the messages right before/after it by seq
--   'window-after'/'window-before'
--                     ARGV[2] cursor id ('' = none)  ARGV[3] limit
--                     ARGV[4] since ('' = none)  ARGV[5] until ('' = none), epoch ms, inclusive:
--                     in time order, the first messages of the window, or the ones
--                     right after/before the cursor's place in it
-- Returns {total, older, newer, seq1, json1, seq2, json2, ...}: older/newer are
-- 1 when messages exist before the first/after the last returned (within the
-- window); a JSON is false if missing. Returns {-1} when the cursor id is not
-- in the DM.
local dm, msgs, ts = KEYS[1], KEYS[2], KEYS[3]
local mode = ARGV[1]
local out = {redis.call('ZCARD', dm), 0, 0}

local function add(id, seq)
  out[#out + 1] = seq
  out[#out + 1] = redis.call('HGET', msgs, id)
end

if mode == 'page' then
  local start, stop = tonumber(ARGV[2]), tonumber(ARGV[3])
  local ids = redis.call('ZREVRANGE', dm, start, stop, 'WITHSCORES')
  for i = #ids - 1, 1, -2 do add(ids[i], ids[i + 1]) end
  if start > 0 then out[3] = 1 end
  if stop + 1 < out[1] then out[2] = 1 end
  return out
end

local limit = tonumber(ARGV[3])
if mode == 'before' or mode == 'after' then
  local seq = redis.call('ZSCORE', dm, ARGV[2])
  if not seq then return {-1} end
  if mode == 'after' then
    local ids = redis.call('ZRANGEBYSCORE', dm, '(' .. seq, '+inf', 'WITHSCORES', 'LIMIT', 0, limit + 1)
    out[2] = 1 -- the cursor itself is older
    if #ids > 2 * limit then out[3] = 1 end
    for i = 1, math.min(#ids, 2 * limit), 2 do add(ids[i], ids[i + 1]) end
  else
    local ids = redis.call('ZREVRANGEBYSCORE', dm, '(' .. seq, '-inf', 'WITHSCORES', 'LIMIT', 0, limit + 1)
    out[3] = 1 -- the cursor itself is newer
    if #ids > 2 * limit then out[2] = 1 end
    for i = math.min(#ids, 2 * limit) - 1, 1, -2 do add(ids[i], ids[i + 1]) end
  end
  return out
end

-- A time window is the rank range [lo, hi) of the time index; [a, b) is the
-- part of it returned.
local lo, hi = 0, redis.call('ZCARD', ts)
if ARGV[4] ~= '' then lo = redis.call('ZCOUNT', ts, '-inf', '(' .. ARGV[4]) end
if ARGV[5] ~= '' then hi = redis.call('ZCOUNT', ts, '-inf', ARGV[5]) end
local a, b = lo, hi
if ARGV[2] ~= '' then
  local r = redis.call('ZSCORE', dm, ARGV[2]) and redis.call('ZRANK', ts, ARGV[2])
  if not r then return {-1} end
  if mode == 'window-after' then a = math.max(lo, r + 1) else b = math.min(hi, r) end
end
if mode == 'window-after' then b = math.min(b, a + limit) else a = math.max(a, b - limit) end
if a < b then
  for _, id in ipairs(redis.call('ZRANGE', ts, a, b - 1)) do add(id, redis.call('ZSCORE', dm, id)) end
end
if a > lo then out[2] = 1 end
if b < hi then out[3] = 1 end
return out
