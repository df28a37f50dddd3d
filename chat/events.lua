-- Prelude shared by every script that writes a conversation or a user's
-- events (prepended in Go, after the line `local PUBLISH_CMD = 'SPUBLISH'`
-- or `'PUBLISH'` that Go writes from Keys.Sharded).

-- publish sends payload on channel: with SPUBLISH (sharded pub/sub: the
-- channel is in the slot of the script's keys, so only that shard's
-- subscribers see it) or PUBLISH (the embedded store, which has no sharded
-- pub/sub). Every publication of a chat script goes through here.
local function publish(channel, payload)
  redis.call(PUBLISH_CMD, channel, payload)
end

-- int writes an integer as a command argument (the embedded store takes
-- no Lua number there).
local function int(n) return string.format('%d', n) end

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
-- The newest entry gives the last id (XREVRANGE: far cheaper than XINFO);
-- only a log that exists with no entry left (all trimmed) needs XINFO's
-- last-generated-id.
local function next_event_id(seq_key, log_key)
  local top = 0
  local newest = redis.call('XREVRANGE', log_key, '+', '-', 'COUNT', 1)
  if #newest > 0 then
    top = tonumber(string.match(newest[1][1], '^(%d+)') or '0')
  elseif redis.call('EXISTS', log_key) == 1 then
    local info = redis.call('XINFO', 'STREAM', log_key)
    for i = 1, #info, 2 do
      if info[i] == 'last-generated-id' then
        top = tonumber(string.match(info[i + 1], '^(%d+)') or '0')
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
    keep_from = tonumber(string.match(e[1], '^(%d+)') or '0') + 1
  end
  if keep_from then redis.call('XTRIM', log_key, 'MINID', keep_from .. '-0') end
  redis.call('PEXPIRE', log_key, max_age)
  publish(log_key, ev)
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
  local seq = string.match(mark, '^(%d+)')
  return seq and tonumber(seq) or 0
end

-- lower_unread takes n off a user's total unread counter, never below 0.
local function lower_unread(unread_key, n)
  if n <= 0 then return end
  if redis.call('DECRBY', unread_key, n) < 0 then redis.call('SET', unread_key, 0) end
end
