-- export_state: the session's messages with their marks, in order, its summary and state slot.
-- ARGV: ttl, cursor, budget
--   cursor: "" to start, else what an earlier run returned.
-- Returns {summary or false, state or false, next cursor or false,
-- {payload...}, {marks blob or false...}}, one blob per payload. At most `budget`
-- messages per run (and, in a session heavier than RUN_BYTES, payloads up
-- to RUN_BYTES: see page_after); a cursor means: run again from there.
-- Python side: export_state() in memmark/redis/_protocol.py.
local ids, _, payloads, next_cursor = page_after(ARGV[2], tonumber(ARGV[3]))
local reply = {redis.call('GET', SUMMARY), redis.call('GET', STATE), next_cursor, payloads,
  marks_of(ids)}
slide_expiry()
return reply
