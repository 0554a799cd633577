-- version: the session's version.
-- ARGV: ttl
-- Returns the version, 0 for a session without one (never written, deleted,
-- expired, or last written before versions existed).
-- Python side: version() in memmark/redis/_protocol.py.
local version = current_version() or 0
slide_expiry()
return version
