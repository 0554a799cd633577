-- Messages a run appends, held until the run ends and then written at once
-- (shared code, prepended after _common.lua and before _ops.lua). A batch
-- that adds a hint and deletes it again, adds a message and re-marks it, or
-- replaces a reply it just added, writes each new message once, with its
-- final payload and marks, in the few bulk commands of write_batch: a
-- command costs the server more than the change it makes. The operations
-- of _ops.lua see the held messages as the session's newest, after every
-- stored one, in the order they were appended. A script that appends calls
-- write_appended() before it moves the version.

-- Each held message is {id =, payload =, marks = {encoded mark...}}; one
-- removed again is marked gone, so the list keeps the append order.
local appended, appended_by_id = {}, {}

-- Hold a new message carrying the encoded marks `encoded_marks` (copied).
local function append(id, payload, encoded_marks)
  local marks = {}
  for i = 1, #encoded_marks do marks[i] = encoded_marks[i] end
  local message = {id = id, payload = payload, marks = marks}
  appended[#appended + 1] = message
  appended_by_id[id] = message
end

-- Remove a held message.
local function drop_appended(message)
  message.gone = true
  appended_by_id[message.id] = nil
end

-- Remove every held message.
local function forget_appended()
  appended, appended_by_id = {}, {}
end

-- Remove the held messages carrying any of the encoded marks `encoded`;
-- return how many.
local function drop_appended_carrying(encoded)
  local wanted = {}
  for _, mark in ipairs(encoded) do wanted[mark] = true end
  local dropped = 0
  for _, message in ipairs(appended) do
    if not message.gone then
      for _, mark in ipairs(message.marks) do
        if wanted[mark] then
          drop_appended(message)
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
  for i = #appended, 1, -1 do
    local message = appended[i]
    if not message.gone then
      drop_appended(message)
      return message.payload
    end
  end
  return nil
end

-- Write the held messages after the newest stored one, in order, and hold
-- none from then on.
local function write_appended()
  local batch, seq = new_batch(), nil
  for _, message in ipairs(appended) do
    if not message.gone then
      -- Read once, after every removal the run made: one past the newest.
      seq = (seq or tonumber(redis.call('ZRANGE', IDS, -1, -1, 'WITHSCORES')[2] or '0')) + 1
      add_to_batch(batch, seq, message.id, message.payload, table.concat(message.marks),
        message.marks)
    end
  end
  write_batch(batch, ORDER, IDS, MARKS, MARK_INDEX)
  forget_appended()
end
