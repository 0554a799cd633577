-- Shared operations, prepended after _common.lua: the body of every write,
-- written once and called both by the write's own script and by apply (a
-- batch of writes in one run). None of them moves the version or slides
-- the expiry: the calling script does that, once per run.

-- Append the messages `ids` (with `payloads`, same order) not stored yet
-- (nor held, nor earlier in `ids`), each carrying every mark of
-- `encoded_marks`; they are held until write_appended (see _appends.lua).
-- `stored`: the ids' scores in the ids zset, when the caller has them.
local function add_messages(ids, payloads, encoded_marks, stored)
  -- A held id is not in the store yet: the lookup finds it absent there.
  stored = stored or scores_of(IDS, ids)
  for n = 1, #ids do
    local id = ids[n]
    if not stored[n] and not held_at[id] then append(id, payloads[n], encoded_marks) end
  end
end

-- Write the messages `ids` (with `payloads`) by id: a stored one keeps its
-- seq and marks and gets its payload rewritten everywhere it appears (the
-- order zset and each of its mark index entries); the others are appended.
-- Every one of them gets the marks of `encoded_marks` it lacks. `ids` holds
-- no id twice. Returns how many were stored (or held) before.
local function upsert_messages(ids, payloads, encoded_marks)
  -- A held message is replaced where it is held (see _appends.lua).
  local replaced = 0
  local stored_ids, stored_payloads = {}, {}
  for n = 1, #ids do
    local at = held_at[ids[n]]
    if at then
      replaced = replaced + 1
      held_payloads[at] = payloads[n]
      held_marks[at] = with_marks(held_marks[at], encoded_marks)
    else
      stored_ids[#stored_ids + 1] = ids[n]
      stored_payloads[#stored_payloads + 1] = payloads[n]
    end
  end
  ids, payloads = stored_ids, stored_payloads
  local seqs = scores_of(IDS, ids)
  -- The marks are read only when a message is stored: a new one has none.
  local blobs = {}
  for n = 1, #ids do
    if seqs[n] then
      blobs = marks_of(ids)
      break
    end
  end
  local index_additions, blob_updates = {}, {}
  for n = 1, #ids do
    local seq, id, payload = seqs[n], ids[n], payloads[n]
    if seq then
      replaced = replaced + 1
      local seq16 = padded_seq(seq)
      redis.call('ZREMRANGEBYSCORE', ORDER, seq, seq)
      redis.call('ZADD', ORDER, seq, payload)
      local carried = blobs[n] and split_marks(blobs[n]) or {}
      local has = {}
      for _, encoded in ipairs(carried) do
        has[encoded] = true
        remove_index_entry(encoded, seq16)
        index_additions[#index_additions + 1] = 0
        index_additions[#index_additions + 1] = encoded .. seq16 .. payload
      end
      local grew = false
      for _, encoded in ipairs(encoded_marks) do
        if not has[encoded] then
          grew = true
          carried[#carried + 1] = encoded
          index_additions[#index_additions + 1] = 0
          index_additions[#index_additions + 1] = encoded .. seq16 .. payload
        end
      end
      if grew then
        blob_updates[#blob_updates + 1] = id
        blob_updates[#blob_updates + 1] = table.concat(carried)
      end
    else
      append(id, payload, encoded_marks)
    end
  end
  -- The old entries are all removed above, before any new one is added.
  if #index_additions > 0 then call_in_slices('ZADD', MARK_INDEX, index_additions) end
  if #blob_updates > 0 then call_in_slices('HSET', MARKS, blob_updates) end
  return replaced
end

-- Remove the messages `ids` (no repeats) with their marks; return how many
-- were stored or held. The seqs and marks come in one ZMSCORE and one HMGET
-- per slice: a command per id costs more.
local function delete_messages(ids)
  local held, stored_ids = 0, {}
  for n = 1, #ids do
    local at = held_at[ids[n]]
    if at then
      drop_appended(at)
      held = held + 1
    else
      stored_ids[#stored_ids + 1] = ids[n]
    end
  end
  ids = stored_ids
  local seqs = scores_of(IDS, ids)
  local blobs = marks_of(ids)
  local removed, unmarked = {}, {}
  for n = 1, #ids do
    local seq = seqs[n]
    if seq then
      local id = ids[n]
      removed[#removed + 1] = id
      redis.call('ZREMRANGEBYSCORE', ORDER, seq, seq)
      local blob = blobs[n]
      if blob then
        unmarked[#unmarked + 1] = id
        unindex(blob, padded_seq(seq))
      end
    end
  end
  if #removed > 0 then call_in_slices('ZREM', IDS, removed) end
  if #unmarked > 0 then call_in_slices('HDEL', MARKS, unmarked) end
  return held + #removed
end

-- Remove the newest message with its marks; return its payload, or false
-- when the session holds none.
local function pop_newest()
  local held = pop_appended()
  if held then return held end
  local newest = redis.call('ZRANGE', IDS, -1, -1, 'WITHSCORES')
  if #newest == 0 then return false end
  local payload = redis.call('ZRANGEBYSCORE', ORDER, newest[2], newest[2])[1]
  delete_messages({newest[1]})
  return payload
end

-- Remove every message and mark; the summary and the state slot stay.
-- UNLINK frees large values off the main thread, so clearing a huge
-- session does not stall the server.
local function clear_messages()
  forget_appended()
  redis.call('UNLINK', ORDER, IDS, MARKS, MARK_INDEX)
end

-- Store the state slot's JSON text; "" removes the slot (a JSON document
-- is never empty).
local function store_state(text)
  if text == '' then
    redis.call('DEL', STATE)
  else
    redis.call('SET', STATE, text)
  end
end

-- Remove up to `budget` messages carrying any of `marks` (not encoded, no
-- repeats); a bounded call also stops once the index entries it read pass
-- RUN_BYTES. Returns how many were removed, and whether messages carrying
-- a mark may remain (call again).
local function delete_marked(marks, budget)
  local encoded_marks = {}
  for j = 1, #marks do encoded_marks[j] = encode_mark(marks[j]) end
  -- Held messages carry their marks in the run, not in the index.
  local removed, more = drop_appended_carrying(encoded_marks), false
  local gone = {}
  local bounded = budget < UNBOUNDED
  local bytes, largest = 0, 0
  for j = 1, #marks do
    local encoded = encoded_marks[j]
    local low, high = mark_range(encoded)
    local left = budget - removed
    while true do
      if left <= 0 or (bounded and bytes >= RUN_BYTES) then
        more = true
        break
      end
      -- A bounded call reads in pages of page_width: no entry's size is
      -- known before it is read, and a few more pages cost less than
      -- weighing the session first. The entries removed are gone from the
      -- range, so each page starts from its low end again.
      local width = bounded and page_width(removed, bytes, largest, left) or left
      local entries = redis.call('ZRANGEBYLEX', MARK_INDEX, low, high, 'LIMIT', 0, width)
      for _, entry in ipairs(entries) do
        local seq16 = string.sub(entry, #encoded + 1, #encoded + 16)
        local id = payload_id(entry, #encoded + 17)
        bytes = bytes + #entry
        if #entry > largest then largest = #entry end
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
      if #entries < width then break end -- the range is exhausted
      left = budget - removed
    end
    if more then break end
  end
  return removed, more
end

-- How update_messages_mark(new, old) changes a message carrying the encoded
-- marks `carried` (new, old: encoded marks or nil, not both nil). Returns
-- nil when it leaves the message as it is; else the marks the message keeps
-- (new included), whether it lost old, and whether it gained new.
local function remark_of(carried, new, old)
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
  if old and not has_old then return nil end
  if not has_old and has_new then return nil end
  local gains = new and not has_new
  if gains then keep[#keep + 1] = new end
  return keep, has_old, gains
end

-- Re-mark the held messages (see _appends.lua) as remark_messages does the
-- stored ones: those of `ids`, or all of them when `ids` is nil. Returns
-- how many changed, and the ids not held (nil when `ids` is nil). A second
-- call changes none of them again.
local function remark_appended(new, old, ids)
  local selection, rest = {}, nil
  if ids then
    rest = {}
    for _, id in ipairs(ids) do
      local at = held_at[id]
      if at then
        selection[#selection + 1] = at
      else
        rest[#rest + 1] = id
      end
    end
  else
    for at = 1, #held_ids do
      if held_payloads[at] then selection[#selection + 1] = at end
    end
  end
  local changed = 0
  for _, at in ipairs(selection) do
    if not new and not old then
      if #held_marks[at] > 0 then
        held_marks[at] = {}
        changed = changed + 1
      end
    else
      -- remark_of makes a new list: a held one may be shared.
      local keep = remark_of(held_marks[at], new, old)
      if keep then
        held_marks[at] = keep
        changed = changed + 1
      end
    end
  end
  return changed, rest
end

-- Re-mark messages (see MemoryBase.update_messages_mark), touching at most
-- `budget` of them; a bounded call also stops once the payloads read or
-- copied pass RUN_BYTES (walking old's index in pages, as delete_marked
-- does; adding new to every message pages only in a heavy session).
--   new / old: encoded marks, or nil.  ids: a list (no repeats), or nil
--   for every message.  cursor: "" to start, else what the call before
--   returned.
-- Returns how many messages' mark sets changed, and a cursor to call again
-- from ("" when walking old's index, which shrinks call by call), or false
-- when done.
local function remark_messages(new, old, ids, cursor, budget)
  -- The writes are gathered and sent in a few bulk commands at the end: a
  -- command per message costs the server more than the change itself.
  -- Each message is seen once per call, so nothing below reads what is
  -- deferred.
  local index_additions, blob_updates, unmarked = {}, {}, {}
  local copied = 0 -- payload bytes copied into the index by this call

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
    local keep, lost_old, gains = remark_of(carried, new, old)
    if not keep then return 0 end
    if lost_old and not walked then remove_index_entry(old, seq16) end
    if gains then
      payload = payload or redis.call('ZRANGEBYSCORE', ORDER, seq16, seq16)[1]
      copied = copied + #payload
      index_additions[#index_additions + 1] = 0
      index_additions[#index_additions + 1] = new .. seq16 .. payload
    end
    if #keep == 0 then
      unmarked[#unmarked + 1] = id
    else
      blob_updates[#blob_updates + 1] = id
      blob_updates[#blob_updates + 1] = table.concat(keep)
    end
    return 1
  end

  -- The held messages are not in the store; only the other ids are looked
  -- up there. (A run that holds some is unbounded, so this is its only
  -- call, and no cursor counts positions in a shortened list.)
  local changed, stored_ids = remark_appended(new, old, ids)
  local next_cursor = false
  ids = stored_ids
  if ids then
    local seqs = scores_of(IDS, ids)
    local blobs = marks_of(ids)
    local start = tonumber(cursor) or 1
    -- An unbounded call never stops.
    local stop_at = budget < UNBOUNDED and RUN_BYTES or math.huge
    for n = start, #ids do
      if seqs[n] then changed = changed + remark(ids[n], padded_seq(seqs[n]), blobs[n]) end
      -- Adding a mark copies payloads into the index: a bounded call stops
      -- past RUN_BYTES, with the position of the next id as cursor.
      if n < #ids and copied >= stop_at then
        next_cursor = tostring(n + 1)
        break
      end
    end
  elseif old then
    -- Every selected message loses old, so the range shrinks call by call.
    local low, high = mark_range(old)
    local entries
    if budget < UNBOUNDED then
      -- Pages of page_width until RUN_BYTES (see delete_marked).
      entries = {}
      local bytes, largest, position = 0, 0, low
      while #entries < budget and bytes < RUN_BYTES do
        local width = page_width(#entries, bytes, largest, budget - #entries)
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
    local walked_ids = {}
    for n, entry in ipairs(entries) do walked_ids[n] = payload_id(entry, #old + 17) end
    local blobs = marks_of(walked_ids)
    for n, entry in ipairs(entries) do
      changed = changed + remark(walked_ids[n], string.sub(entry, #old + 1, #old + 16), blobs[n],
        true, new and string.sub(entry, #old + 17))
    end
    -- The walked entries are the first of old's range up to the last one
    -- read: one range removal, instead of sending every entry (payload
    -- included) back to the server.
    if #entries > 0 then
      redis.call('ZREMRANGEBYLEX', MARK_INDEX, low, '[' .. entries[#entries])
    end
    if #entries == budget then next_cursor = '' end
  elseif new then
    local page_ids, seqs, payloads
    page_ids, seqs, payloads, next_cursor = page_after(cursor, budget)
    local blobs = marks_of(page_ids)
    for n = 1, #page_ids do
      changed = changed + remark(page_ids[n], padded_seq(seqs[n]), blobs[n], nil, payloads[n])
    end
  else
    -- Remove every mark of every message: drop the two mark structures.
    changed = changed + redis.call('HLEN', MARKS)
    redis.call('UNLINK', MARKS, MARK_INDEX)
  end
  if #index_additions > 0 then call_in_slices('ZADD', MARK_INDEX, index_additions) end
  if #blob_updates > 0 then call_in_slices('HSET', MARKS, blob_updates) end
  if #unmarked > 0 then call_in_slices('HDEL', MARKS, unmarked) end
  return changed, next_cursor
end
