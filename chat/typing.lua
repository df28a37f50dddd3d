-- The sender's step of a typing announcement, in the sender's slot: at
-- most once per interval per peer.
-- KEYS[1] the sender's blocks (set)  KEYS[2] the sender->recipient typing
-- rate-limit key (string)  KEYS[3] the sender's write bucket
-- ARGV[1] recipient id  ARGV[2] interval ms
-- ARGV[3] writes per second (0: no limit)  ARGV[4] burst
-- Returns 1 when the announcement is to be published, 0 when suppressed
-- (published less than an interval ago), or a refusal of guard.lua: the
-- sender blocked the recipient, or the sender's budget spent (only a
-- publication spends). Nothing is stored but the rate-limit key (and the
-- bucket).
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 1 then return {'blocking'} end
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
local refused = spend(KEYS[3], ARGV[3], ARGV[4])
if refused then return refused end
redis.call('SET', KEYS[2], '1', 'PX', ARGV[2])
return 1
