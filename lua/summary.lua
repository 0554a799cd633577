-- summary: store the compressed summary ("" removes it).
-- ARGV: ttl, summary
-- Returns nothing.
-- Python side: summary() in memmark/redis/_protocol.py.
store_summary(ARGV[2])
slide_expiry()
