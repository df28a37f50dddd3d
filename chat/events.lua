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

-- counters holds each counter this script has read or written (false:
-- missing), so a script reads a counter at most once: check_keys
-- (guard.lua) stores what its check read, counter/set_counter what they
-- read and wrote. Nothing else writes a counter that next_counter or
-- append_event use.
local counters = {}
local function counter(key)
  local v = counters[key]
  if v == nil then
    v = redis.call('GET', key)
    counters[key] = v
  end
  return tonumber(v or '0') or 0
end
local function set_counter(key, n)
  local v = string.format('%d', n)
  redis.call('SET', key, v)
  counters[key] = v
end

-- fields holds the hash fields of a user's applied ops, read horizons and
-- unread counts per peer that this script has read or written,
-- fields[key][field] (false: missing), so each is read at most once per
-- script: a guard step reads them before its first write (which checks
-- the hashes' kind) and the participant step of the same send script
-- finds them here. Every read and write of those three hashes in a script
-- goes through hget/hset/hdel, so the cache holds what Redis holds.
local fields = {}
local function field_cache(key)
  local f = fields[key]
  if not f then f = {}; fields[key] = f end
  return f
end
local function hget(key, field)
  local f = field_cache(key)
  local v = f[field]
  if v == nil then
    v = redis.call('HGET', key, field)
    f[field] = v
  end
  return v or nil
end
local function hset(key, field, v)
  redis.call('HSET', key, field, v)
  field_cache(key)[field] = v
end
local function hdel(key, field)
  redis.call('HDEL', key, field)
  field_cache(key)[field] = false
end

-- next_counter is one more than the larger of the counter at key (missing:
-- 0) and floor, and stores it at key. A counter that was lost (evicted, a
-- stray DEL) or set back thus resumes above floor, the highest number
-- already handed out, instead of repeating one. key must have passed
-- check_keys as a counter.
local function next_counter(key, floor)
  local n = math.max(counter(key), floor) + 1
  set_counter(key, n)
  return n
end

-- log_top is the id of a log's last event: its newest entry's, or, for a
-- log that exists with no entry left (all trimmed), XINFO's
-- last-generated-id; 0 for no log.
local function log_top(log_key)
  local newest = redis.call('XREVRANGE', log_key, '+', '-', 'COUNT', 1)
  if #newest > 0 then return tonumber(string.match(newest[1][1], '^(%d+)') or '0') end
  if redis.call('EXISTS', log_key) == 0 then return 0 end
  local info = redis.call('XINFO', 'STREAM', log_key)
  for i = 1, #info, 2 do
    if info[i] == 'last-generated-id' then
      return tonumber(string.match(info[i + 1], '^(%d+)') or '0')
    end
  end
  return 0
end

-- append_event numbers an event in a user's log, stores it and publishes it,
-- inside the caller's atomic script, so an event exists exactly when its
-- write does and ids never skip or repeat.
--   seq_key  the user's event counter     log_key  the user's event stream
--   etype    "message:new" | "message:edit" | "message:delete" | "message:read"
--   peer     the other party's id (validated: [A-Za-z0-9_.-], no quoting needed)
--   ts       epoch ms of the event
--   fields   the event's own JSON members, e.g. '"msg":{...}' (see msg_fields)
--   max_len  entries kept                  max_age  ms an idle log is kept
-- The stream entry id is "<n>-0" for event n; the same JSON is published on
-- the channel named like the stream. Nothing in it can fail once the
-- script's check_keys (guard.lua) passed seq_key as a counter and log_key
-- as a stream.
-- n is one above the counter, and XADD itself checks it is above the log's
-- last id: a counter that was lost or set back (evicted, a stray DEL) makes
-- that XADD fail, writing nothing, and n is then taken one above the log's
-- last id (log_top), so ids go on with no gap or repeat and the counter is
-- repaired. Events older than max_age are not trimmed here: EventsAfter
-- skips them (events.go), MAXLEN bounds the log, and an idle log expires.
local function append_event(seq_key, log_key, etype, peer, ts, fields, max_len, max_age)
  local n = counter(seq_key) + 1
  local function entry()
    return '{"id":' .. n .. ',"type":"' .. etype .. '","peer":"' .. peer .. '","ts":' .. ts .. ',' .. fields .. '}'
  end
  local ev = entry()
  local added = redis.pcall('XADD', log_key, 'MAXLEN', max_len, n .. '-0', 't', ts, 'e', ev)
  if type(added) == 'table' and added.err then
    n = math.max(n, log_top(log_key) + 1)
    ev = entry()
    redis.call('XADD', log_key, 'MAXLEN', max_len, n .. '-0', 't', ts, 'e', ev)
  end
  set_counter(seq_key, n)
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
  local mark = hget(read_key, peer)
  if not mark then return 0 end
  local seq = string.match(mark, '^(%d+)')
  return seq and tonumber(seq) or 0
end
