-- Return the newest message of a DM (O(log N): no scan of the history).
-- Both keys are the conversation's (one Redis Cluster slot); the reader's
-- horizon and unread count come from the reader's own hashes (inbox.List).
-- KEYS[1] DM sorted set  KEYS[2] message hash
-- Returns {seq, JSON}, or an empty array for an empty conversation.
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if #last == 0 then return {} end
return {last[2], redis.call('HGET', KEYS[2], last[1])}
