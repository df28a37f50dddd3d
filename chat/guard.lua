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
-- Also returns, when it spent, the bucket's fields before (t, us; nil when
-- absent) and after, so a caller can undo exactly this spend.
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
  local t, us = tostring(tokens - 1), string.format('%d', now)
  redis.call('HSET', bucket, 't', t, 'us', us)
  -- Expires once full again: a missing bucket is a full one.
  redis.call('PEXPIRE', bucket, math.ceil(burst * 1000 / rate) + 1000)
  return nil, b, {t, us}
end

-- check_keys refuses a call whose keys hold the wrong kind of value, before
-- the script's first write. Redis does not roll a script back: a command
-- that fails halfway (WRONGTYPE, or INCR of a string that is not a number)
-- would leave every write before it in place. So a script first checks all
-- its keys, and after that none of its writes can fail: a write is all or
-- nothing, and a corrupted key is a clear error that changed nothing.
--   keys   the step's KEYS (a step is a function of its KEYS and ARGV: see
--          steps.go)
--   kinds  one word per keys entry, in order: a Redis type ('string',
--          'hash', 'set', 'zset', 'stream'), 'counter' (a string holding an
--          integer that INCR can take), or '-' (not checked: the script
--          does not read or write it as a value). A missing key passes.
-- Raises "WRONGTYPE <key> holds a <type>, want a <kind>"; Go maps any such
-- reply to Internal (500), since it means the store was corrupted.
-- A counter's value read by the check is kept in counters (events.lua,
-- which every script using check_keys has before this prelude), so
-- next_counter and append_event do not read it again.
-- A key checked once as a kind is not checked again in the same script
-- (the steps of a send run as one script on a single Redis: steps.go): no
-- command of a step changes a key's kind.
local checked = {}
local function check_keys(keys, kinds)
  local i = 0
  for want in string.gmatch(kinds, '%S+') do
    i = i + 1
    local key = keys[i]
    if want ~= '-' and checked[key] ~= want then
      local got, ok
      if want == 'counter' then
        -- One GET, no TYPE: it fails on a key of another type.
        local v = redis.pcall('GET', key)
        if type(v) == 'table' and v.err then
          got, ok = 'value that is not a string', false
        else
          -- At most 18 digits: INCR cannot overflow it.
          ok = not v or string.match(v, '^%-?%d%d?%d?%d?%d?%d?%d?%d?%d?%d?%d?%d?%d?%d?%d?%d?%d?%d?$') ~= nil
          if not ok then got = 'string that is not a number' end
          if ok and counters[key] == nil then counters[key] = v end
        end
      else
        got = redis.call('TYPE', key)['ok']
        ok = got == 'none' or got == want
      end
      if not ok then
        error(redis.error_reply('WRONGTYPE ' .. key .. ' holds a ' .. got .. ', want a ' .. want))
      end
      checked[key] = want
    end
  end
end
