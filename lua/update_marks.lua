-- update_marks: re-mark messages (see MemoryBase.update_messages_mark).
-- ARGV: ttl, new, old, has_ids, cursor, budget, id... (no repeats)
--   new / old: "" for None.  has_ids: "1" when the selection is narrowed
--   to the ids that follow.  cursor: "" to start, else the seq where an
--   earlier run stopped (only for "add new to every message").
-- Touches at most `budget` messages; returns {changed, next cursor or
-- false}. A cursor (or, when walking old's index, a run that used its whole
-- budget) means: run again. Each run is atomic and idempotent.
local en = ARGV[2] ~= '' and emark(ARGV[2]) or nil
local eo = ARGV[3] ~= '' and emark(ARGV[3]) or nil
local has_ids = ARGV[4] == '1'
local cursor = ARGV[5]
local budget = tonumber(ARGV[6])

if en and en == eo then
  slide()
  return {0, false}
end

-- The writes are gathered and sent in a few bulk commands at the end: a
-- command per message costs the server more than the change itself. Each
-- message is seen once per run, so nothing below reads what is deferred.
local zadd, hset, hdel = {}, {}, {}

-- Work out the change of one message; returns 1 if its mark set changes.
-- `walked`: the caller walks old's index and removes the walked entries
-- itself, in one range command. `payload`: the message's payload when at
-- hand (read only if a mark is added).
local function remark(id, s, blob, walked, payload)
  local ps = blob and pieces(blob) or {}
  if not en and not eo then
    if #ps == 0 then return 0 end
    for _, p in ipairs(ps) do unmark(p, s) end
    hdel[#hdel + 1] = id
    return 1
  end
  local keep, has_old, has_new = {}, false, false
  for _, p in ipairs(ps) do
    if p == eo then
      has_old = true
    else
      keep[#keep + 1] = p
      if p == en then has_new = true end
    end
  end
  -- The selection is narrowed to messages carrying old, when old is given.
  if eo and not has_old then return 0 end
  if not has_old and has_new then return 0 end
  if has_old and not walked then unmark(eo, s) end
  if en and not has_new then
    payload = payload or redis.call('ZRANGEBYSCORE', KEYS[2], s, s)[1]
    zadd[#zadd + 1] = 0
    zadd[#zadd + 1] = en .. s .. payload
    keep[#keep + 1] = en
  end
  if #keep == 0 then
    hdel[#hdel + 1] = id
  else
    hset[#hset + 1] = id
    hset[#hset + 1] = table.concat(keep)
  end
  return 1
end

-- A run holds at most `budget` (2,000) ids, under unpack's limit.
local function blobs_of(ids)
  if #ids == 0 then return {} end
  return redis.call('HMGET', KEYS[4], unpack(ids))
end

local changed, next_cursor = 0, false
if has_ids then
  local ids = {unpack(ARGV, 7)}
  local scores = redis.call('ZMSCORE', KEYS[3], unpack(ids))
  local blobs = blobs_of(ids)
  for n = 1, #ids do
    if scores[n] then changed = changed + remark(ids[n], s16(scores[n]), blobs[n]) end
  end
elseif eo then
  -- Every selected message loses old, so the range shrinks run by run.
  local members = redis.call('ZRANGEBYLEX', KEYS[5], '[' .. eo, '(' .. eo .. '\255',
    'LIMIT', 0, budget)
  local ids = {}
  for n, member in ipairs(members) do ids[n] = pid(member, #eo + 17) end
  local blobs = blobs_of(ids)
  for n, member in ipairs(members) do
    changed = changed + remark(ids[n], string.sub(member, #eo + 1, #eo + 16), blobs[n], true,
      en and string.sub(member, #eo + 17))
  end
  -- The walked entries are the first of old's range up to the last one
  -- read: one range removal, instead of sending every entry (payload
  -- included) back to the server.
  if #members > 0 then
    redis.call('ZREMRANGEBYLEX', KEYS[5], '[' .. eo, '[' .. members[#members])
  end
  if #members == budget then next_cursor = '' end
elseif en then
  local page = redis.call('ZRANGEBYSCORE', KEYS[3], cursor == '' and '-inf' or '(' .. cursor,
    '+inf', 'WITHSCORES', 'LIMIT', 0, budget)
  local ids = {}
  for i = 1, #page, 2 do ids[#ids + 1] = page[i] end
  local blobs = blobs_of(ids)
  -- i and o hold the same seqs, so this window of o is the page's payloads.
  local payloads = #page > 0 and redis.call('ZRANGEBYSCORE', KEYS[2], page[2], page[#page]) or {}
  for n = 1, #ids do
    changed = changed + remark(ids[n], s16(page[2 * n]), blobs[n], nil, payloads[n])
  end
  if #ids == budget then next_cursor = page[#page] end
else
  -- Remove every mark of every message: drop the two mark structures.
  changed = redis.call('HLEN', KEYS[4])
  redis.call('UNLINK', KEYS[4], KEYS[5])
end
if #zadd > 0 then bulk('ZADD', KEYS[5], zadd) end
if #hset > 0 then bulk('HSET', KEYS[4], hset) end
if #hdel > 0 then bulk('HDEL', KEYS[4], hdel) end
slide()
return {changed, next_cursor}
