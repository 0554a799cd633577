-- size: the number of messages in the session, when the keys have a TTL to slide
-- (without one, size() sends a bare ZCARD instead).
-- ARGV: ttl
-- Returns the count.
-- Python side: size() in memmark/redis/_protocol.py.
local count = redis.call('ZCARD', IDS)
slide_expiry()
return count
