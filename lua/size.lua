-- size: the number of messages in the session.
-- ARGV: ttl
-- Returns the count.
-- Python side: size() in memmark/redis/_protocol.py.
local count = redis.call('ZCARD', IDS)
slide_expiry()
return count
