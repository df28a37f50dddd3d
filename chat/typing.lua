-- Announce that one user is typing to another, at most once per interval.
-- KEYS[1] the recipient's blocks (set)   KEYS[2] the sender's blocks (set)
-- KEYS[3] the sender->recipient typing rate-limit key (string)
-- KEYS[4] the recipient's event channel
-- ARGV[1] sender id  ARGV[2] recipient id  ARGV[3] interval ms
-- ARGV[4] the ephemeral typing event (JSON)
-- Returns 1 when published, 0 when suppressed (published less than an
-- interval ago), -1 when the recipient blocked the sender, -2 when the
-- sender blocked the recipient. Nothing is stored but the rate-limit key.
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 1 then return -1 end
if redis.call('SISMEMBER', KEYS[2], ARGV[2]) == 1 then return -2 end
if not redis.call('SET', KEYS[3], '1', 'PX', ARGV[3], 'NX') then return 0 end
redis.call('PUBLISH', KEYS[4], ARGV[4])
return 1
