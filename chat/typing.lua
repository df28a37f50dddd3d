-- Announce that one user is typing to another, at most once per interval.
-- KEYS[1] the recipient's blocks (set)   KEYS[2] the sender's blocks (set)
-- KEYS[3] the sender->recipient typing rate-limit key (string)
-- KEYS[4] the recipient's event channel  KEYS[5] the sender's write bucket
-- ARGV[1] sender id  ARGV[2] recipient id  ARGV[3] interval ms
-- ARGV[4] the ephemeral typing event (JSON)
-- ARGV[5] writes per second (0: no limit)  ARGV[6] burst
-- Returns 1 when published, 0 when suppressed (published less than an
-- interval ago), or a refusal of guard.lua: a block either way, or the
-- sender's budget spent (only a publication spends). Nothing is stored but
-- the rate-limit key (and the bucket).
local refused = contact_refusal(KEYS[2], KEYS[1], ARGV[1], ARGV[2])
if refused then return refused end
if redis.call('EXISTS', KEYS[3]) == 1 then return 0 end
refused = spend(KEYS[5], ARGV[5], ARGV[6])
if refused then return refused end
redis.call('SET', KEYS[3], '1', 'PX', ARGV[3])
redis.call('PUBLISH', KEYS[4], ARGV[4])
return 1
