-- delete: remove messages by id, with their marks.
-- ARGV: ttl, id...
-- Returns the number of messages removed.
local ri, rx, rk = {}, {}, {}
for j = 2, #ARGV do
  local id = ARGV[j]
  local score = redis.call('ZSCORE', KEYS[3], id)
  if score then
    ri[#ri + 1] = id
    redis.call('ZREMRANGEBYSCORE', KEYS[2], score, score)
    local blob = redis.call('HGET', KEYS[4], id)
    if blob then
      rx[#rx + 1] = id
      local s = s16(score)
      for _, p in ipairs(pieces(blob)) do rk[#rk + 1] = p .. s .. id end
    end
  end
end
if #ri > 0 then bulk('ZREM', KEYS[3], ri) end
if #rx > 0 then bulk('HDEL', KEYS[4], rx) end
if #rk > 0 then bulk('ZREM', KEYS[5], rk) end
slide()
return #ri
