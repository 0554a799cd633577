-- add: append messages with their marks, skipping ids already stored.
-- ARGV: ttl, mode, nmarks, mark..., id1, payload1, id2, payload2, ...
--   mode "0": skip duplicates; "1": if any id is taken write nothing and
--   return the taken ids; "2": only return the taken ids (pre-check of a
--   call cut into chunks).
-- Returns the number of messages added, or the list of taken ids.
local mode = ARGV[2]
local nm = tonumber(ARGV[3])
local first = 4 + nm

-- One ZMSCORE for every id of the run: a command per id costs the server
-- more than the lookups themselves. (A run holds at most 2,000 ids, well
-- under unpack's limit.)
local ids = {}
for j = first, #ARGV, 2 do ids[#ids + 1] = ARGV[j] end
local stored = redis.call('ZMSCORE', KEYS[3], unpack(ids))

if mode ~= '0' then
  local taken = {}
  for n = 1, #ids do
    if stored[n] then taken[#taken + 1] = ids[n] end
  end
  if #taken > 0 or mode == '2' then
    slide()
    return taken
  end
end

local enc = {}
for i = 1, nm do enc[i] = emark(ARGV[3 + i]) end
local blob = table.concat(enc)

-- The order comes from Redis: one past the newest stored message.
local top = redis.call('ZRANGE', KEYS[3], -1, -1, 'WITHSCORES')
local seq = tonumber(top[2] or '0')

local seen, zi, zo, hx, zk = {}, {}, {}, {}, {}
for n = 1, #ids do
  local id = ids[n]
  if not stored[n] and not seen[id] then
    seen[id] = true
    seq = seq + 1
    local payload = ARGV[first + 2 * n - 1]
    zi[#zi + 1] = seq
    zi[#zi + 1] = id
    zo[#zo + 1] = seq
    zo[#zo + 1] = payload
    if nm > 0 then
      hx[#hx + 1] = id
      hx[#hx + 1] = blob
      -- The payload rides in the index, so a mark read is one range read.
      -- (One concatenation of three makes one string; a shared seq ..
      -- payload part would cost a string of payload size more.)
      local s = s16(seq)
      for i = 1, nm do
        zk[#zk + 1] = 0
        zk[#zk + 1] = enc[i] .. s .. payload
      end
    end
  end
end
if #zi > 0 then
  bulk('ZADD', KEYS[3], zi)
  bulk('ZADD', KEYS[2], zo)
end
if #hx > 0 then bulk('HSET', KEYS[4], hx) end
if #zk > 0 then bulk('ZADD', KEYS[5], zk) end
slide()
return #zi / 2
