-- delete: remove messages by id, with their marks.
-- ARGV: ttl, id... (no repeats: the caller dedupes)
-- Returns the number of messages removed.
-- The ids' seqs and marks come in one ZMSCORE and one HMGET (a run holds at
-- most 2,000 ids, under unpack's limit): a command per id costs more.
local ids = {unpack(ARGV, 2)}
local scores = redis.call('ZMSCORE', KEYS[3], unpack(ids))
local blobs = redis.call('HMGET', KEYS[4], unpack(ids))
local ri, rx = {}, {}
for n = 1, #ids do
  local score = scores[n]
  if score then
    local id = ids[n]
    ri[#ri + 1] = id
    redis.call('ZREMRANGEBYSCORE', KEYS[2], score, score)
    local blob = blobs[n]
    if blob then
      rx[#rx + 1] = id
      local s = s16(score)
      for _, p in ipairs(pieces(blob)) do unmark(p, s) end
    end
  end
end
if #ri > 0 then bulk('ZREM', KEYS[3], ri) end
if #rx > 0 then bulk('HDEL', KEYS[4], rx) end
slide()
return #ri
