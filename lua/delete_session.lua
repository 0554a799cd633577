-- delete_session: remove every key of the session (its state slot and batch ids too).
-- ARGV: ttl (unused: nothing is left to expire)
-- Returns 1 when the session had a key, 0 when there was nothing to remove.
-- Python side: delete_session() in memmark/redis/_protocol.py.
-- UNLINK frees large values off the main thread (as clear does). The
-- staging keys of an import cut short are not named here; they expire on
-- their own within the hour (see import_state).
local removed = redis.call('UNLINK', unpack(KEYS, 1, SESSION_KEY_COUNT))
return removed > 0 and 1 or 0
