-- import_state: replace the session's messages and marks, and its summary.
-- KEYS[8..11]: staging order, ids, marks and mark index under the same hash
-- tag (an import too big for one run is written there first, then swapped
-- in by RENAME at once).
-- ARGV: ttl, phase, summary, base, id * n, payload * n, marks blob * n
--   (three lists in the same message order; a blob is "" for no marks)
--   phase "whole":  replace the live keys with the messages, in one run.
--   phase "stage":  add the messages to the staging keys (base 0 empties them).
--   phase "commit": add the messages to staging, then swap staging in.
--   base: the seq of the run's first message minus one.
-- Returns nothing; a whole or commit run moves the version on.
-- Python side: import_state() in memmark/redis/_protocol.py.
local phase = ARGV[2]
local base = tonumber(ARGV[4])
local order_key, ids_key, marks_key, index_key = ORDER, IDS, MARKS, MARK_INDEX
if phase ~= 'whole' then
  order_key, ids_key, marks_key, index_key = KEYS[8], KEYS[9], KEYS[10], KEYS[11]
end
if phase == 'whole' or (phase == 'stage' and base == 0) then
  redis.call('UNLINK', order_key, ids_key, marks_key, index_key)
end

local count = (#ARGV - 4) / 3
local batch, no_marks = new_batch(), {}
for n = 1, count do
  local blob = ARGV[4 + 2 * count + n]
  add_to_batch(batch, base + n, ARGV[4 + n], ARGV[4 + count + n], blob,
    blob == '' and no_marks or split_marks(blob))
end
write_batch(batch, order_key, ids_key, marks_key, index_key)

if phase == 'stage' then
  -- An import abandoned half way must not leave its staging keys forever.
  for n = 8, 11 do redis.call('PEXPIRE', KEYS[n], 3600000) end
  return
end
if phase == 'commit' then
  for n = 2, 5 do
    if redis.call('EXISTS', KEYS[n + 6]) == 1 then
      redis.call('RENAME', KEYS[n + 6], KEYS[n])
    else
      redis.call('UNLINK', KEYS[n])
    end
  end
end
store_summary(ARGV[3])
bump_version()
slide_expiry()
