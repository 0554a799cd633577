-- session_info: what a listing of sessions says of one session.
-- ARGV: ttl (unused: a listing leaves every session's expiry as it is, so
--   that listing does not keep sessions alive)
-- Returns {version, updated, size}: the version (0 for none), the time of
-- the last write in microseconds (0 for none) and the number of messages,
-- all read at one instant.
-- Python side: session_info() in memmark/redis/_protocol.py.
local updated = redis.call('GET', UPDATED)
return {current_version() or 0, updated and tonumber(updated) or 0, redis.call('ZCARD', IDS)}
