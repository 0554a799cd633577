-- delete_by_mark: remove every message carrying any of the marks.
-- ARGV: ttl, budget, then the marks
-- Removes at most `budget` messages, so the script stays short.
-- Returns {removed, more}: more is 1 when messages carrying a mark remain
-- (the caller runs the script again; each run is atomic and idempotent).
-- Python side: delete_by_mark() in memmark/redis/_protocol.py.
local budget = tonumber(ARGV[2])
local removed, more = 0, 0
local gone = {}
for j = 3, #ARGV do
  local encoded = encode_mark(ARGV[j])
  local left = budget - removed
  if left <= 0 then
    more = 1
    break
  end
  local low, high = mark_range(encoded)
  local entries = redis.call('ZRANGEBYLEX', MARK_INDEX, low, high, 'LIMIT', 0, left)
  if #entries == left then more = 1 end
  for _, entry in ipairs(entries) do
    local seq16 = string.sub(entry, #encoded + 1, #encoded + 16)
    local id = payload_id(entry, #encoded + 17)
    if not gone[id] then
      gone[id] = true
      removed = removed + 1
      redis.call('ZREM', IDS, id)
      redis.call('ZREMRANGEBYSCORE', ORDER, seq16, seq16)
      local blob = redis.call('HGET', MARKS, id)
      if blob then
        redis.call('HDEL', MARKS, id)
        unindex(blob, seq16)
      end
    end
  end
end
slide_expiry()
return {removed, more}
