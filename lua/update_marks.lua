-- update_marks: re-mark messages (see MemoryBase.update_messages_mark).
-- ARGV: ttl, new, old, has_ids, cursor, budget, id...
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

-- Apply the change to one message; returns 1 if its mark set changed.
-- `payload` is the message's payload when the caller has it at hand (an
-- index entry carries it), else nil: it is read only if a mark is added.
local function remark(id, s, blob, payload)
  local ps = blob and pieces(blob) or {}
  if not en and not eo then
    if #ps == 0 then return 0 end
    for _, p in ipairs(ps) do unmark(p, s) end
    redis.call('HDEL', KEYS[4], id)
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
  if has_old then unmark(eo, s) end
  if en and not has_new then
    payload = payload or redis.call('ZRANGEBYSCORE', KEYS[2], s, s)[1]
    redis.call('ZADD', KEYS[5], 0, en .. s .. payload)
    keep[#keep + 1] = en
  end
  if #keep == 0 then
    redis.call('HDEL', KEYS[4], id)
  else
    redis.call('HSET', KEYS[4], id, table.concat(keep))
  end
  return 1
end

local changed, next_cursor = 0, false
if has_ids then
  for j = 7, #ARGV do
    local id = ARGV[j]
    local score = redis.call('ZSCORE', KEYS[3], id)
    if score then
      changed = changed + remark(id, s16(score), redis.call('HGET', KEYS[4], id))
    end
  end
elseif eo then
  -- Every selected message loses old, so the range shrinks run by run.
  local members = redis.call('ZRANGEBYLEX', KEYS[5], '[' .. eo, '(' .. eo .. '\255',
    'LIMIT', 0, budget)
  for _, member in ipairs(members) do
    local id = pid(member, #eo + 17)
    changed = changed + remark(id, string.sub(member, #eo + 1, #eo + 16),
      redis.call('HGET', KEYS[4], id), en and string.sub(member, #eo + 17))
  end
  if #members == budget then next_cursor = '' end
elseif en then
  local page = redis.call('ZRANGEBYSCORE', KEYS[3], cursor == '' and '-inf' or '(' .. cursor,
    '+inf', 'WITHSCORES', 'LIMIT', 0, budget)
  -- i and o hold the same seqs, so this window of o is the page's payloads.
  local payloads = #page > 0 and redis.call('ZRANGEBYSCORE', KEYS[2], page[2], page[#page]) or {}
  for i = 1, #page, 2 do
    local id = page[i]
    changed = changed + remark(id, s16(page[i + 1]), redis.call('HGET', KEYS[4], id),
      payloads[(i + 1) / 2])
  end
  if #page / 2 == budget then next_cursor = page[#page] end
else
  -- Remove every mark of every message: drop the two mark structures.
  changed = redis.call('HLEN', KEYS[4])
  redis.call('UNLINK', KEYS[4], KEYS[5])
end
slide()
return {changed, next_cursor}
