-- size: the number of messages in the session.
-- ARGV: ttl
local n = redis.call('ZCARD', KEYS[3])
slide()
return n
