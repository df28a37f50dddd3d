-- Send one message from A to B: unless it is a retry (same client id) or
-- refused (a block, A's rate limit), append it to the DM, move it to the top
-- of both inboxes, count it unread for B, move A's read horizon to it (a
-- reply means A has read what came before), and log and publish events.
-- KEYS[1] DM sorted set (id -> seq)   KEYS[2] message hash (id -> JSON)
-- KEYS[3] sequence counter            KEYS[4] inbox of A (sender)  KEYS[5] inbox of B
-- KEYS[6] A's event counter  KEYS[7] A's event log  KEYS[8] B's event counter  KEYS[9] B's event log
-- KEYS[10] time index (id -> epoch ms)
-- KEYS[11] users A blocked   KEYS[12] users B blocked
-- KEYS[13] A's read horizons KEYS[14] A's unread total  KEYS[15] B's unread total
-- KEYS[16] A's send bucket   KEYS[17] A's client id record (unused when ARGV[12] is "")
-- ARGV[1] message id  ARGV[2] message JSON  ARGV[3] epoch ms
-- ARGV[4] member for A's inbox ("user-<B>")  ARGV[5] member for B's inbox ("user-<A>")
-- ARGV[6] B's id  ARGV[7] A's id  ARGV[8] event log length  ARGV[9] event log age ms
-- ARGV[10] sends per second (0: no limit)  ARGV[11] burst (the send budget; see guard.lua)
-- ARGV[12] request fingerprint, "" without a client id  ARGV[13] client id window ms
-- Returns {'ok', seq} | {'dup', record} | {'blocked_by'} | {'blocking'} | {'rate', retry ms}
-- where record is "<fingerprint>\n<seq>\n<message JSON>" of the first send.
check_keys('zset hash counter zset zset counter stream counter stream zset set set hash counter counter hash string')
if ARGV[12] ~= '' then
  local rec = redis.call('GET', KEYS[17])
  if rec then return {'dup', rec} end
end
local refused = contact_refusal(KEYS[11], KEYS[12], ARGV[7], ARGV[6]) or spend(KEYS[16], ARGV[10], ARGV[11])
if refused then return refused end
-- The sequence goes on above the conversation's last message even if its
-- counter was lost, so two messages never share a place.
local top = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
local seq = next_counter(KEYS[3], tonumber(top[2]) or 0)
-- A's horizon moves to the new message: B's messages A had not read leave
-- A's unread total. No message:read event: the message:new itself tells
-- B that A has read everything before it, and keeps a reply to two events.
lower_unread(KEYS[14], redis.call('ZCOUNT', KEYS[1], '(' .. read_seq(KEYS[13], ARGV[6]), '+inf'))
redis.call('ZADD', KEYS[1], seq, ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[10], ARGV[3], ARGV[1])
redis.call('ZADD', KEYS[4], ARGV[3], ARGV[4])
redis.call('ZADD', KEYS[5], ARGV[3], ARGV[5])
redis.call('HSET', KEYS[13], ARGV[6], seq .. ':' .. ARGV[1] .. ':' .. ARGV[3])
redis.call('INCR', KEYS[15])
if ARGV[12] ~= '' then
  redis.call('SET', KEYS[17], ARGV[12] .. '\n' .. seq .. '\n' .. ARGV[2], 'PX', ARGV[13])
end
append_event(KEYS[6], KEYS[7], 'message:new', ARGV[6], ARGV[3], msg_fields(ARGV[2]), ARGV[8], ARGV[9])
append_event(KEYS[8], KEYS[9], 'message:new', ARGV[7], ARGV[3], msg_fields(ARGV[2]), ARGV[8], ARGV[9])
return {'ok', seq}
