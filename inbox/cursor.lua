-- Read the inbox entries right before (older) or after (newer) a position,
-- newest first, as one snapshot, in O(log N + limit).
-- KEYS[1] inbox sorted set ("user-<peer>" -> epoch ms of the latest message;
--         ties ordered bytewise by member, as Redis does)
-- ARGV[1] 'before' (older: further down the list) or 'after' (newer)
-- ARGV[2] cursor member  ARGV[3] cursor score ('' = the member's current score)
-- ARGV[4] limit
-- Returns {total, older, newer, member1, score1, member2, score2, ...}, newest
-- first: older/newer are 1 when entries exist below the last/above the first
-- one returned. Returns {-1} when ARGV[3] is '' and the member is not listed.
local key, member, limit = KEYS[1], ARGV[2], tonumber(ARGV[4])
local total = redis.call('ZCARD', key)
local score = ARGV[3]
if score == '' then
  score = redis.call('ZSCORE', key, member)
  if not score then return {-1} end
end

-- Bytewise a < b, the order of members that share a score (Lua's own string
-- comparison follows the locale).
local function less(a, b)
  for i = 1, math.min(#a, #b) do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x < y end
  end
  return #a < #b
end

-- p: the ascending rank of (score, member), found or not; q: the first rank
-- above it. Members tied on score are few, searched by rank in O(log N) each.
local p = redis.call('ZCOUNT', key, '-inf', '(' .. score)
local tieEnd = redis.call('ZCOUNT', key, '-inf', score)
local hi = tieEnd
while p < hi do
  local mid = math.floor((p + hi) / 2)
  if less(redis.call('ZRANGE', key, mid, mid)[1], member) then p = mid + 1 else hi = mid end
end
local q = p
if p < tieEnd and redis.call('ZRANGE', key, p, p)[1] == member then q = p + 1 end

local a, b = q, math.min(total, q + limit) -- the ascending rank range [a, b) returned
if ARGV[1] == 'before' then a, b = math.max(0, p - limit), p end
local out = {total, a > 0 and 1 or 0, b < total and 1 or 0}
if a < b then
  local zs = redis.call('ZREVRANGE', key, total - b, total - a - 1, 'WITHSCORES')
  for i = 1, #zs do out[#out + 1] = zs[i] end
end
return out
