-- Return the newest message of a DM.
-- KEYS[1] DM sorted set  KEYS[2] message hash
-- Returns {seq, JSON}, or an empty array for an empty conversation.
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if #last == 0 then return {} end
return {last[2], redis.call('HGET', KEYS[2], last[1])}
