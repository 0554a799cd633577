-- clear: remove every message and mark; the summary stays.
-- ARGV: ttl
-- Returns the session's new version.
-- Python side: clear() in memmark/redis/_protocol.py.
clear_messages()
local version = bump_version()
slide_expiry()
return version
