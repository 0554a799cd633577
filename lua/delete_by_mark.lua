-- delete_by_mark: remove every message carrying any of the marks.
-- ARGV: ttl, budget, then the marks
-- Removes at most `budget` messages (and, in a session heavier than
-- RUN_BYTES, reads entries up to RUN_BYTES), so the script stays short.
-- Returns {version, removed, more}: the session's new version; more is 1 when messages carrying a mark remain
-- (the caller runs the script again; each run is atomic and idempotent).
-- Python side: delete_by_mark() in memmark/redis/_protocol.py.
local budget = tonumber(ARGV[2])
local removed, more = 0, 0
local gone = {}
-- A session heavier than RUN_BYTES also stops once the entries read pass it.
local counting = heavy()
local bytes, largest = 0, 0
for j = 3, #ARGV do
  local encoded = encode_mark(ARGV[j])
  local left = budget - removed
  if left <= 0 or bytes >= RUN_BYTES then
    more = 1
    break
  end
  local low, high = mark_range(encoded)
  local entries = redis.call('ZRANGEBYLEX', MARK_INDEX, low, high, 'LIMIT', 0,
    counting and heavy_width(removed, bytes, largest, left) or left)
  while #entries > 0 do
    local width = #entries
    for _, entry in ipairs(entries) do
      local seq16 = string.sub(entry, #encoded + 1, #encoded + 16)
      local id = payload_id(entry, #encoded + 17)
      if counting then
        bytes = bytes + #entry
        if #entry > largest then largest = #entry end
      end
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
    -- Only a heavy session reads its entries in pages (see heavy_width);
    -- the entries removed above are gone from the range, so each page
    -- starts from its low end again.
    if not counting then
      if width == left then more = 1 end
      break
    end
    left = budget - removed
    if left <= 0 or bytes >= RUN_BYTES then
      more = 1
      break
    end
    entries = redis.call('ZRANGEBYLEX', MARK_INDEX, low, high, 'LIMIT', 0,
      heavy_width(removed, bytes, largest, left))
  end
  if more == 1 then break end
end
local version = bump_version()
slide_expiry()
return {version, removed, more}
