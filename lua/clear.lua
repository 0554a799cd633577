-- clear: remove every message and mark; the summary stays.
-- ARGV: ttl
-- Returns the session's new version.
-- Python side: clear() in memmark/redis/_protocol.py.
-- UNLINK frees large values off the main thread, so clearing a huge
-- session does not stall the server.
redis.call('UNLINK', ORDER, IDS, MARKS, MARK_INDEX)
local version = bump_version()
slide_expiry()
return version
