-- delete_by_mark: remove every message carrying any of the marks.
-- ARGV: ttl, budget, mark...
-- Removes at most `budget` messages, so the script stays short; returns
-- {removed, more} where more = 1 when messages carrying a mark remain (the
-- caller runs the script again; each run is atomic and idempotent).
local budget = tonumber(ARGV[2])
local removed, more = 0, 0
local gone = {}
for j = 3, #ARGV do
  local e = emark(ARGV[j])
  local left = budget - removed
  if left <= 0 then
    more = 1
    break
  end
  local members = redis.call('ZRANGEBYLEX', KEYS[5], '[' .. e, '(' .. e .. '\255', 'LIMIT', 0, left)
  if #members == left then more = 1 end
  for _, member in ipairs(members) do
    local s = string.sub(member, #e + 1, #e + 16)
    local id = pid(member, #e + 17)
    if not gone[id] then
      gone[id] = true
      removed = removed + 1
      redis.call('ZREM', KEYS[3], id)
      redis.call('ZREMRANGEBYSCORE', KEYS[2], s, s)
      local blob = redis.call('HGET', KEYS[4], id)
      if blob then
        redis.call('HDEL', KEYS[4], id)
        for _, p in ipairs(pieces(blob)) do unmark(p, s) end
      end
    end
  end
end
slide()
return {removed, more}
