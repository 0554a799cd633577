-- delete_by_mark: remove every message carrying any of the marks.
-- ARGV: ttl, budget, then the marks
-- Removes at most `budget` messages and reads index entries up to about
-- RUN_BYTES (in pages, see delete_marked), so the script stays short.
-- Returns {version, removed, more}: the session's new version; more is 1 when messages carrying a mark remain
-- (the caller runs the script again; each run is atomic and idempotent).
-- Python side: delete_by_mark() in memmark/redis/_protocol.py.
local removed, more = delete_marked(argv_list(3, #ARGV), tonumber(ARGV[2]))
local version = bump_version()
slide_expiry()
return {version, removed, more and 1 or 0}
