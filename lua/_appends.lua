-- Messages a run appends, held until the run ends and then written at once
-- (shared code, prepended after _common.lua and before _ops.lua). A batch
-- that adds a hint and deletes it again, adds a message and re-marks it, or
-- replaces a reply it just added, writes each new message once, with its
-- final payload and marks, in the few bulk commands of write_batch: a
-- command costs the server more than the change it makes. The operations
-- of _ops.lua see the held messages as the session's newest, after every
-- stored one, in the order they were appended. A script that appends calls
-- write_appended() before it moves the version.

-- The held messages as lists by position, in append order (a table per
-- message would be an allocation each, which a batch of thousands of
-- messages feels): their ids; their payloads, false once removed again;
-- and their marks, a list of encoded marks that may be shared with the
-- operation that added them, so it is never changed in place: a change puts
-- a new list there. held_at: the position of each id still held.
local held_ids, held_payloads, held_marks, held_at = {}, {}, {}, {}

-- Hold a new message carrying the encoded marks `encoded_marks`.
local function append(id, payload, encoded_marks)
  local at = #held_ids + 1
  held_ids[at], held_payloads[at], held_marks[at] = id, payload, encoded_marks
  held_at[id] = at
end

-- Remove the held message at position `at`.
local function drop_appended(at)
  held_at[held_ids[at]] = nil
  held_payloads[at] = false
end

-- Remove every held message.
local function forget_appended()
  held_ids, held_payloads, held_marks, held_at = {}, {}, {}, {}
end

-- The encoded marks `carried` with those of `added` they lack: `carried`
-- itself when it lacks none, else a new list.
local function with_marks(carried, added)
  local has, grown = {}, nil
  for _, encoded in ipairs(carried) do has[encoded] = true end
  for _, encoded in ipairs(added) do
    if not has[encoded] then
      has[encoded] = true
      if not grown then
        grown = {}
        for i = 1, #carried do grown[i] = carried[i] end
      end
      grown[#grown + 1] = encoded
    end
  end
  return grown or carried
end

-- Remove the held messages carrying any of the encoded marks `encoded`;
-- return how many.
local function drop_appended_carrying(encoded)
  local wanted = {}
  for _, mark in ipairs(encoded) do wanted[mark] = true end
  local dropped = 0
  for at = 1, #held_ids do
    if held_payloads[at] then
      for _, mark in ipairs(held_marks[at]) do
        if wanted[mark] then
          drop_appended(at)
          dropped = dropped + 1
          break
        end
      end
    end
  end
  return dropped
end

-- Remove the newest held message and return its payload, or nil when the
-- run holds none.
local function pop_appended()
  for at = #held_ids, 1, -1 do
    local payload = held_payloads[at]
    if payload then
      drop_appended(at)
      return payload
    end
  end
  return nil
end

-- Write the held messages after the newest stored one, in order, and hold
-- none from then on.
local function write_appended()
  local batch, seq, blobs = new_batch(), nil, {}
  for at = 1, #held_ids do
    local payload = held_payloads[at]
    if payload then
      -- Read once, after every removal the run made: one past the newest.
      seq = (seq or tonumber(redis.call('ZRANGE', IDS, -1, -1, 'WITHSCORES')[2] or '0')) + 1
      local marks = held_marks[at]
      local blob = blobs[marks]
      if not blob then
        blob = table.concat(marks)
        blobs[marks] = blob -- messages added together share their list
      end
      add_to_batch(batch, seq, held_ids[at], payload, blob, marks)
    end
  end
  write_batch(batch, ORDER, IDS, MARKS, MARK_INDEX)
  forget_appended()
end
