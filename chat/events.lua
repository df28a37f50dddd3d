-- Prelude shared by every script that changes a message (prepended in Go).
-- append_event numbers an event in a user's log, stores it and publishes it,
-- inside the caller's atomic script, so an event exists exactly when its
-- write does and ids never skip or repeat.
--   seq_key  the user's event counter     log_key  the user's event stream
--   etype    "message:new" | "message:edit" | "message:delete"
--   peer     the other party's id (validated: [A-Za-z0-9_.-], no quoting needed)
--   ts       epoch ms of the event         msg      the message JSON
--   max_len  entries kept                  max_age  ms an event is kept
-- The stream entry id is "<n>-0" for event n; the same JSON is published on
-- the channel named like the stream.
local function append_event(seq_key, log_key, etype, peer, ts, msg, max_len, max_age)
  local n = redis.call('INCR', seq_key)
  local ev = '{"id":' .. n .. ',"type":"' .. etype .. '","peer":"' .. peer .. '","ts":' .. ts .. ',"msg":' .. msg .. '}'
  redis.call('XADD', log_key, 'MAXLEN', max_len, n .. '-0', 't', ts, 'e', ev)
  -- Age bound: drop up to 8 expired entries from the head per append, so
  -- expired events drain faster than they arrive; an idle log expires whole.
  local cutoff = tonumber(ts) - tonumber(max_age)
  local head = redis.call('XRANGE', log_key, '-', '+', 'COUNT', 8)
  local keep_from
  for _, e in ipairs(head) do
    if tonumber(e[2][2]) >= cutoff then break end
    keep_from = tonumber(string.match(e[1], '^(%d+)')) + 1
  end
  if keep_from then redis.call('XTRIM', log_key, 'MINID', keep_from .. '-0') end
  redis.call('PEXPIRE', log_key, max_age)
  redis.call('PUBLISH', log_key, ev)
  return n
end
