-- import_state: replace the session's messages and marks, its summary and state slot.
-- KEYS[10..13]: staging order, ids, marks and mark index under the same hash
-- tag (an import too big for one run is written there first, then swapped
-- in by RENAME at once).
-- ARGV: ttl, phase, summary, state, base, id * n, payload * n, marks blob * n
--   (summary and state: "" for none)
--   (three lists in the same message order; a blob is "" for no marks)
--   phase "whole":  replace the live keys with the messages, in one run.
--   phase "stage":  add the messages to the staging keys (base 0 empties them).
--   phase "commit": add the messages to staging, then swap staging in.
--   base: the seq of the run's first message minus one.
-- Returns nothing; a whole or commit run moves the version on.
-- Python side: import_state() in memmark/redis/_protocol.py.
local phase = ARGV[2]
local base = tonumber(ARGV[5])
local order_key, ids_key, marks_key, index_key = ORDER, IDS, MARKS, MARK_INDEX
if phase ~= 'whole' then
  order_key, ids_key, marks_key, index_key = KEYS[10], KEYS[11], KEYS[12], KEYS[13]
end
if phase == 'whole' or (phase == 'stage' and base == 0) then
  redis.call('UNLINK', order_key, ids_key, marks_key, index_key)
end

local count = (#ARGV - 5) / 3
local batch, no_marks = new_batch(), {}
for n = 1, count do
  local blob = ARGV[5 + 2 * count + n]
  add_to_batch(batch, base + n, ARGV[5 + n], ARGV[5 + count + n], blob,
    blob == '' and no_marks or split_marks(blob))
end
write_batch(batch, order_key, ids_key, marks_key, index_key)

if phase == 'stage' then
  -- An import abandoned half way must not leave its staging keys forever.
  for n = 10, 13 do redis.call('PEXPIRE', KEYS[n], 3600000) end
  return
end
if phase == 'commit' then
  -- A renamed key keeps its staging expiry (an hour): slide every key.
  expiry_unsettled = true
  for n = 2, 5 do
    if redis.call('EXISTS', KEYS[n + 8]) == 1 then
      redis.call('RENAME', KEYS[n + 8], KEYS[n])
    else
      redis.call('UNLINK', KEYS[n])
    end
  end
end
store_summary(ARGV[3])
store_state(ARGV[4])
bump_version()
slide_expiry()
