-- The recipient's step of a typing announcement, in the recipient's slot:
-- refuse it if the recipient blocked the sender, else (unless ARGV[3] is
-- 'dry', the check before the sender's step) publish the ephemeral event
-- on the recipient's channel.
-- KEYS[1] the recipient's blocks (set)  KEYS[2] the recipient's event channel
-- ARGV[1] sender id  ARGV[2] the typing event (JSON)  ARGV[3] 'dry' or 'run'
-- Returns 1, or {'blocked_by'}.
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 1 then return {'blocked_by'} end
if ARGV[3] ~= 'dry' then publish(KEYS[2], ARGV[2]) end
return 1
