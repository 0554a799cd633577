-- delete: remove messages by id, with their marks.
-- ARGV: ttl, then the ids (no repeats: the caller de-duplicates)
-- Returns {version, removed}: the session's new version and the number of
-- messages removed.
-- Python side: delete() in memmark/redis/_protocol.py.
local removed = delete_messages(argv_list(2, #ARGV))
local version = bump_version()
slide_expiry()
return {version, removed}
