-- Prelude shared by every script that writes from one user toward another
-- (prepended in Go): send, edit, seen, read, typing, delete. Both guards run
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
