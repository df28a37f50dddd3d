-- Read one page of a DM, newest first, with the total, as one snapshot.
-- KEYS[1] DM sorted set  KEYS[2] message hash
-- ARGV[1] start rank  ARGV[2] stop rank (inclusive, counted from the newest)
-- Returns {total, seq1, json1, seq2, json2, ...}; a JSON is false if missing.
local total = redis.call('ZCARD', KEYS[1])
local out = {total}
local ids = redis.call('ZREVRANGE', KEYS[1], ARGV[1], ARGV[2], 'WITHSCORES')
for i = 1, #ids, 2 do
  out[#out + 1] = ids[i + 1]
  out[#out + 1] = redis.call('HGET', KEYS[2], ids[i])
end
return out
