-- The single-script send of commit dccab63 (before sends ran in per-slot
-- steps): events.lua + guard.lua + send.lua of that commit, concatenated.
-- Kept only as BenchmarkSendRedisCost's same-run baseline.
-- Prelude shared by every script that writes a conversation (prepended in Go).

-- next_counter is one more than the larger of the counter at key (missing:
-- 0) and floor, and stores it at key. A counter that was lost (evicted, a
-- stray DEL) or set back thus resumes above floor, the highest number
-- already handed out, instead of repeating one. key must have passed
-- check_keys as a counter.
local function next_counter(key, floor)
  local n = math.max(tonumber(redis.call('GET', key) or '0'), floor) + 1
  redis.call('SET', key, string.format('%d', n))
  return n
end

-- next_event_id numbers the next event of a log: one above both the
-- counter and the log's last id (XADD refuses an id at or below it), so a
-- lost or set-back counter neither fails the write (the script's earlier
-- writes would stay) nor repeats an id, and ids go on with no gap.
local function next_event_id(seq_key, log_key)
  local top = 0
  if redis.call('EXISTS', log_key) == 1 then
    local info = redis.call('XINFO', 'STREAM', log_key)
    for i = 1, #info, 2 do
      if info[i] == 'last-generated-id' then
        top = tonumber(string.match(info[i + 1], '^(%d+)'))
        break
      end
    end
  end
  return next_counter(seq_key, top)
end

-- append_event numbers an event in a user's log, stores it and publishes it,
-- inside the caller's atomic script, so an event exists exactly when its
-- write does and ids never skip or repeat.
--   seq_key  the user's event counter     log_key  the user's event stream
--   etype    "message:new" | "message:edit" | "message:delete" | "message:read"
--   peer     the other party's id (validated: [A-Za-z0-9_.-], no quoting needed)
--   ts       epoch ms of the event
--   fields   the event's own JSON members, e.g. '"msg":{...}' (see msg_fields)
--   max_len  entries kept                  max_age  ms an event is kept
-- The stream entry id is "<n>-0" for event n; the same JSON is published on
-- the channel named like the stream. Nothing in it can fail once the
-- script's check_keys (guard.lua) passed seq_key as a counter and log_key
-- as a stream: see next_event_id.
local function append_event(seq_key, log_key, etype, peer, ts, fields, max_len, max_age)
  local n = next_event_id(seq_key, log_key)
  local ev = '{"id":' .. n .. ',"type":"' .. etype .. '","peer":"' .. peer .. '","ts":' .. ts .. ',' .. fields .. '}'
  redis.call('XADD', log_key, 'MAXLEN', max_len, n .. '-0', 't', ts, 'e', ev)
  -- Age bound: drop up to 8 expired entries from the head per append, so
  -- expired events drain faster than they arrive; an idle log expires whole.
  local cutoff = tonumber(ts) - tonumber(max_age)
  local head = redis.call('XRANGE', log_key, '-', '+', 'COUNT', 8)
  local keep_from
  for _, e in ipairs(head) do
    local t = tonumber(e[2][2])
    if not t or t >= cutoff then break end
    keep_from = tonumber(string.match(e[1], '^(%d+)')) + 1
  end
  if keep_from then redis.call('XTRIM', log_key, 'MINID', keep_from .. '-0') end
  redis.call('PEXPIRE', log_key, max_age)
  redis.call('PUBLISH', log_key, ev)
  return n
end

-- msg_fields are the members of a message event.
local function msg_fields(msg) return '"msg":' .. msg end

-- Read horizons: a user's hash of peer -> "<seq>:<message id>:<epoch ms>",
-- the last message of the DM they have read. read_seq is its seq, 0 if none.
-- A mark that does not start with a number counts as none, so a corrupted
-- one cannot fail a script halfway.
local function read_seq(read_key, peer)
  local mark = redis.call('HGET', read_key, peer)
  if not mark then return 0 end
  return tonumber(string.match(mark, '^(%d+)')) or 0
end

-- lower_unread takes n off a user's total unread counter, never below 0.
local function lower_unread(unread_key, n)
  if n <= 0 then return end
  if redis.call('DECRBY', unread_key, n) < 0 then redis.call('SET', unread_key, 0) end
end
-- Prelude shared by every script that writes from one user toward another
-- (prepended in Go): send, edit, seen, read, typing, delete. The guards run
-- inside the writing script, before its first write, so a refused write
-- changes nothing and no write slips between the check and the change.
-- A refusal is returned to Go as is (chat/guard.go reads it):
--   {'blocked_by'}      the recipient blocked the writer
--   {'blocking'}        the writer blocked the recipient
--   {'rate', retry ms}  the writer's budget is spent

-- contact_refusal returns the refusal when either user blocked the other,
-- nil otherwise.
--   a_blocks, b_blocks  the sets of users a and b blocked
--   a, b                the writer and the recipient
local function contact_refusal(a_blocks, b_blocks, a, b)
  if redis.call('SISMEMBER', b_blocks, a) == 1 then return {'blocked_by'} end
  if redis.call('SISMEMBER', a_blocks, b) == 1 then return {'blocking'} end
  return nil
end

-- spend takes one token from a token bucket (burst tokens, refilled at rate
-- per second; rate 0 = no limit) and returns nil, or the refusal when
-- fewer than one is left; a refusal changes nothing. The bucket is a hash:
-- t tokens left, us the Redis time of the last refill in microseconds.
-- Time is Redis's own (TIME; scripts replicate their effects, so TIME may
-- precede writes), never a node's: a node whose clock runs ahead cannot
-- refill a bucket early.
local function spend(bucket, rate, burst)
  rate, burst = tonumber(rate), tonumber(burst)
  if rate <= 0 then return nil end
  local clock = redis.call('TIME')
  local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
  local b = redis.call('HMGET', bucket, 't', 'us')
  local tokens = tonumber(b[1]) or burst
  local elapsed = math.max(0, now - (tonumber(b[2]) or now))
  tokens = math.min(burst, tokens + elapsed * rate / 1000000)
  if tokens < 1 then return {'rate', math.ceil((1 - tokens) * 1000 / rate)} end
  -- %d keeps every digit of the microseconds (tostring would round them).
  redis.call('HSET', bucket, 't', tostring(tokens - 1), 'us', string.format('%d', now))
  -- Expires once full again: a missing bucket is a full one.
  redis.call('PEXPIRE', bucket, math.ceil(burst * 1000 / rate) + 1000)
  return nil
end

-- check_keys refuses a call whose keys hold the wrong kind of value, before
-- the script's first write. Redis does not roll a script back: a command
-- that fails halfway (WRONGTYPE, or INCR of a string that is not a number)
-- would leave every write before it in place. So a script first checks all
-- its keys, and after that none of its writes can fail: a write is all or
-- nothing, and a corrupted key is a clear error that changed nothing.
--   kinds  one word per KEYS entry, in order: a Redis type ('string',
--          'hash', 'set', 'zset', 'stream'), 'counter' (a string holding an
--          integer that INCR can take), or '-' (not checked: the script
--          does not read or write it as a value). A missing key passes.
-- Raises "WRONGTYPE <key> holds a <type>, want a <kind>"; Go maps any such
-- reply to Internal (500), since it means the store was corrupted.
local function check_keys(kinds)
  local i = 0
  for want in string.gmatch(kinds, '%S+') do
    i = i + 1
    local key = KEYS[i]
    if want ~= '-' then
      local got = redis.call('TYPE', key)['ok']
      local ok = got == 'none' or got == want
      if want == 'counter' and got == 'string' then
        -- At most 18 digits: INCR cannot overflow it.
        ok = string.match(redis.call('GET', key), '^%-?%d%d?%d?%d?%d?%d?%d?%d?%d?%d?%d?%d?%d?%d?%d?%d?%d?%d?$') ~= nil
        if not ok then got = 'string that is not a number' end
      end
      if not ok then
        error(redis.error_reply('WRONGTYPE ' .. key .. ' holds a ' .. got .. ', want a ' .. want))
      end
    end
  end
end
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
