-- clear: remove every message and mark; the summary stays.
-- ARGV: ttl
-- Returns nothing.
-- Python side: clear() in memmark/redis/_protocol.py.
-- UNLINK frees large values off the main thread, so clearing a huge
-- session does not stall the server.
redis.call('UNLINK', ORDER, IDS, MARKS, MARK_INDEX)
slide_expiry()
