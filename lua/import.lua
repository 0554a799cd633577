-- import: replace the session's messages and marks, and its summary.
-- KEYS[6..9]: staging o, i, x, k under the same hash tag (an import too big
-- for one run is written there first, then swapped in by RENAME at once).
-- ARGV: ttl, phase, summary, base, then (id, payload, marks blob) triples.
--   phase "one":    replace the live keys with the triples, in one run.
--   phase "stage":  add the triples to the staging keys (base 0 empties them).
--   phase "commit": add the triples to staging, then swap staging in.
--   base: the seq of the first triple minus one.
local phase = ARGV[2]
local base = tonumber(ARGV[4])
local o, i, x, k = KEYS[2], KEYS[3], KEYS[4], KEYS[5]
if phase ~= 'one' then
  o, i, x, k = KEYS[6], KEYS[7], KEYS[8], KEYS[9]
end
if phase == 'one' or (phase == 'stage' and base == 0) then
  redis.call('UNLINK', o, i, x, k)
end

local zi, zo, hx, zk = {}, {}, {}, {}
local seq = base
for j = 5, #ARGV, 3 do
  local id, blob = ARGV[j], ARGV[j + 2]
  seq = seq + 1
  zi[#zi + 1] = seq
  zi[#zi + 1] = id
  zo[#zo + 1] = seq
  zo[#zo + 1] = ARGV[j + 1]
  if blob ~= '' then
    hx[#hx + 1] = id
    hx[#hx + 1] = blob
    local s = s16(seq)
    for _, p in ipairs(pieces(blob)) do
      zk[#zk + 1] = 0
      zk[#zk + 1] = p .. s .. ARGV[j + 1]
    end
  end
end
if #zi > 0 then
  bulk('ZADD', i, zi)
  bulk('ZADD', o, zo)
end
if #hx > 0 then bulk('HSET', x, hx) end
if #zk > 0 then bulk('ZADD', k, zk) end

if phase == 'stage' then
  -- An import abandoned half way must not leave its staging keys forever.
  for n = 6, 9 do redis.call('PEXPIRE', KEYS[n], 3600000) end
  return 0
end
if phase == 'commit' then
  for n = 2, 5 do
    if redis.call('EXISTS', KEYS[n + 4]) == 1 then
      redis.call('RENAME', KEYS[n + 4], KEYS[n])
    else
      redis.call('UNLINK', KEYS[n])
    end
  end
end
if ARGV[3] == '' then
  redis.call('DEL', KEYS[1])
else
  redis.call('SET', KEYS[1], ARGV[3])
end
slide()
return 0
