-- session_state: the session state slot's JSON text.
-- ARGV: ttl
-- Returns the text, or false when the slot is unset.
-- Python side: session_state() in memmark/redis/_protocol.py.
local state = redis.call('GET', STATE)
slide_expiry()
return state
