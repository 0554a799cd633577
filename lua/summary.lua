-- summary: store the compressed summary ("" removes it).
-- ARGV: ttl, summary
-- Returns the session's new version.
-- Python side: summary() in memmark/redis/_protocol.py.
store_summary(ARGV[2])
local version = bump_version()
slide_expiry()
return version
