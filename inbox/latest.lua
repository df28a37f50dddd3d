-- Return the newest message of a DM, the reader's horizon in it and how many
-- messages came after that horizon (O(log N): no scan of the history).
-- KEYS[1] DM sorted set  KEYS[2] message hash  KEYS[3] the reader's read horizons
-- ARGV[1] the peer (the horizon's field)
-- Returns {seq, JSON, horizon ("" if none), unread}, or an empty array for an
-- empty conversation.
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if #last == 0 then return {} end
local mark = redis.call('HGET', KEYS[3], ARGV[1]) or ''
-- string.match's no-match must meet `or` before tonumber: the embedded
-- store's Lua returns no value there (not nil), and tonumber() then fails.
local h = tonumber(string.match(mark, '^(%d+)') or '0')
return {last[2], redis.call('HGET', KEYS[2], last[1]), mark, redis.call('ZCOUNT', KEYS[1], '(' .. h, '+inf')}
