-- clear: remove every message and mark; the summary stays.
-- ARGV: ttl
-- UNLINK frees large values off the main thread, so clearing a huge
-- session does not stall the server.
redis.call('UNLINK', KEYS[2], KEYS[3], KEYS[4], KEYS[5])
slide()
return 0
