-- update_marks: re-mark messages (see MemoryBase.update_messages_mark).
-- ARGV: ttl, new, old, by_ids, cursor, budget, then the ids (no repeats)
--   new / old: "" for None.  by_ids: "1" when the selection is narrowed to
--   the ids that follow, "0" otherwise.  cursor: "" to start, else the seq
--   where an earlier run stopped (for "add new to every message"; with ids,
--   the position of the first id to do, which the run after a stop gets).
-- Touches at most `budget` messages; in a session heavier than RUN_BYTES a
-- run also stops once the payloads it read or copied pass RUN_BYTES.
-- Returns {version, changed, next cursor or false}: the session's version
-- after the run (moved on unless the run had nothing to do); a cursor ("" when walking old's
-- index, which shrinks run by run) means: run again. Each run is atomic and
-- idempotent.
-- Python side: update_marks() in memmark/redis/_protocol.py.
local new = ARGV[2] ~= '' and encode_mark(ARGV[2]) or nil
local old = ARGV[3] ~= '' and encode_mark(ARGV[3]) or nil
local by_ids = ARGV[4] == '1'
local budget = tonumber(ARGV[6])

if new and new == old then
  slide_expiry()
  return {current_version(), 0, false}
end

-- The writes are gathered and sent in a few bulk commands at the end: a
-- command per message costs the server more than the change itself. Each
-- message is seen once per run, so nothing below reads what is deferred.
local index_additions, blob_updates, unmarked = {}, {}, {}
local copied = 0 -- payload bytes copied into the index by this run

-- Work out the change of one message; returns 1 if its mark set changes.
-- `walked`: the caller walks old's index and removes the walked entries
-- itself, in one range command. `payload`: the message's payload when at
-- hand (read only if a mark is added).
local function remark(id, seq16, blob, walked, payload)
  local carried = blob and split_marks(blob) or {}
  if not new and not old then
    if #carried == 0 then return 0 end
    for _, encoded in ipairs(carried) do remove_index_entry(encoded, seq16) end
    unmarked[#unmarked + 1] = id
    return 1
  end
  local keep, has_old, has_new = {}, false, false
  for _, encoded in ipairs(carried) do
    if encoded == old then
      has_old = true
    else
      keep[#keep + 1] = encoded
      if encoded == new then has_new = true end
    end
  end
  -- The selection is narrowed to messages carrying old, when old is given.
  if old and not has_old then return 0 end
  if not has_old and has_new then return 0 end
  if has_old and not walked then remove_index_entry(old, seq16) end
  if new and not has_new then
    payload = payload or redis.call('ZRANGEBYSCORE', ORDER, seq16, seq16)[1]
    copied = copied + #payload
    index_additions[#index_additions + 1] = 0
    index_additions[#index_additions + 1] = new .. seq16 .. payload
    keep[#keep + 1] = new
  end
  if #keep == 0 then
    unmarked[#unmarked + 1] = id
  else
    blob_updates[#blob_updates + 1] = id
    blob_updates[#blob_updates + 1] = table.concat(keep)
  end
  return 1
end

local changed, next_cursor = 0, false
if by_ids then
  -- A run holds at most `budget` (2,000) ids, under unpack's limit.
  local ids = {unpack(ARGV, 7)}
  local seqs = redis.call('ZMSCORE', IDS, unpack(ids))
  local blobs = marks_of(ids)
  local start = tonumber(ARGV[5]) or 1
  local stop_at = heavy() and RUN_BYTES or math.huge -- a light session never stops
  for n = start, #ids do
    if seqs[n] then changed = changed + remark(ids[n], padded_seq(seqs[n]), blobs[n]) end
    -- Adding a mark copies payloads into the index: in a heavy session a
    -- run stops past RUN_BYTES, with the position of the next id as cursor.
    if n < #ids and copied >= stop_at then
      next_cursor = tostring(n + 1)
      break
    end
  end
elseif old then
  -- Every selected message loses old, so the range shrinks run by run.
  local low, high = mark_range(old)
  local entries
  if heavy() then
    -- Pages by heavy_width until RUN_BYTES (see delete_by_mark).
    entries = {}
    local bytes, largest, position = 0, 0, low
    while #entries < budget and bytes < RUN_BYTES do
      local width = heavy_width(#entries, bytes, largest, budget - #entries)
      local page = redis.call('ZRANGEBYLEX', MARK_INDEX, position, high, 'LIMIT', 0, width)
      for _, entry in ipairs(page) do
        entries[#entries + 1] = entry
        bytes = bytes + #entry
        if #entry > largest then largest = #entry end
      end
      if #page < width then break end
      position = '(' .. page[#page]
    end
    if bytes >= RUN_BYTES then next_cursor = '' end
  else
    entries = redis.call('ZRANGEBYLEX', MARK_INDEX, low, high, 'LIMIT', 0, budget)
  end
  local ids = {}
  for n, entry in ipairs(entries) do ids[n] = payload_id(entry, #old + 17) end
  local blobs = marks_of(ids)
  for n, entry in ipairs(entries) do
    changed = changed + remark(ids[n], string.sub(entry, #old + 1, #old + 16), blobs[n], true,
      new and string.sub(entry, #old + 17))
  end
  -- The walked entries are the first of old's range up to the last one
  -- read: one range removal, instead of sending every entry (payload
  -- included) back to the server.
  if #entries > 0 then
    redis.call('ZREMRANGEBYLEX', MARK_INDEX, low, '[' .. entries[#entries])
  end
  if #entries == budget then next_cursor = '' end
elseif new then
  local ids, seqs, payloads
  ids, seqs, payloads, next_cursor = page_after(ARGV[5], budget)
  local blobs = marks_of(ids)
  for n = 1, #ids do
    changed = changed + remark(ids[n], padded_seq(seqs[n]), blobs[n], nil, payloads[n])
  end
else
  -- Remove every mark of every message: drop the two mark structures.
  changed = redis.call('HLEN', MARKS)
  redis.call('UNLINK', MARKS, MARK_INDEX)
end
if #index_additions > 0 then call_in_slices('ZADD', MARK_INDEX, index_additions) end
if #blob_updates > 0 then call_in_slices('HSET', MARKS, blob_updates) end
if #unmarked > 0 then call_in_slices('HDEL', MARKS, unmarked) end
local version = bump_version()
slide_expiry()
return {version, changed, next_cursor}
