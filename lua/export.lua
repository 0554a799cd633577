-- export: the session's messages with their marks, in order.
-- ARGV: ttl, cursor, budget
-- Returns {summary or false, next cursor or false, n, id * n, payload * n,
-- marks blob or false * n}. At most `budget` messages per run; a cursor
-- means: run again from there for the rest.
local cursor = ARGV[2]
local budget = tonumber(ARGV[3])
local ids = redis.call('ZRANGEBYSCORE', KEYS[3], cursor == '' and '-inf' or '(' .. cursor,
  '+inf', 'WITHSCORES', 'LIMIT', 0, budget)
local n = #ids / 2
local out = {redis.call('GET', KEYS[1]), false, n}
if n > 0 then
  for i = 1, #ids, 2 do out[#out + 1] = ids[i] end
  -- i and o hold the same seqs, so this window is exactly these messages.
  local payloads = redis.call('ZRANGEBYSCORE', KEYS[2], ids[2], ids[#ids])
  for i = 1, #payloads do out[#out + 1] = payloads[i] end
  local fields = {}
  for i = 1, #ids, 2 do fields[#fields + 1] = ids[i] end
  for i = 1, #fields, 4000 do
    local blobs = redis.call('HMGET', KEYS[4], unpack(fields, i, math.min(i + 3999, #fields)))
    for j = 1, #blobs do out[#out + 1] = blobs[j] end
  end
  if n == budget then out[2] = ids[#ids] end
end
slide()
return out
