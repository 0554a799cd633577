-- read: the whole session for a client's cache, or word that its copy is current.
-- ARGV: ttl, held, fill, budget
--   held: the version whose messages the client holds, "" for none.
--   fill: "1" to send the whole session when `held` is not current, "0" not to.
--   budget: the most messages a whole reply may hold.
-- Returns {version or false, summary or false, state, {payload...},
-- {id, marks blob, ...}}: state 0 means the client's copy is current
-- (nothing else is sent); 1 that the payloads of every message follow,
-- oldest first, with the marks hash as HGETALL gives it; 2 that nothing
-- follows (fill is "0", or the session passes `budget` or RUN_BYTES: the
-- client reads with get instead). The summary is sent every time: a
-- client's cache holds the messages and marks only.
-- Python side: read() in memmark/redis/_protocol.py.
local version = redis.call('GET', VERSION)
local summary = redis.call('GET', SUMMARY)
local state, payloads, marks = 2, {}, {}
if version and version == ARGV[2] then
  state = 0
elseif ARGV[3] == '1' and redis.call('ZCARD', ORDER) <= tonumber(ARGV[4]) and not heavy() then
  state = 1
  payloads = redis.call('ZRANGE', ORDER, 0, -1)
  marks = redis.call('HGETALL', MARKS)
end
slide_expiry()
return {version or false, summary, state, payloads, marks}
