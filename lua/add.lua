-- add: append messages with their marks.
-- ARGV: ttl, mode, mark_count, mark * mark_count, id * n, payload * n
--   (the messages' ids, then their payloads in the same order; mode
--   "check" sends the ids only)
--   mode "skip":   skip every id already stored (or earlier in the run).
--   mode "refuse": if any id is already stored, write nothing.
--   mode "check":  write nothing, only look the ids up (the pre-check of a
--                  call cut into several runs).
-- Returns {version, {id...}}: the session's version after the run (moved on
-- when the run wrote, false for a session without one) and the ids already
-- stored (always none in mode "skip").
-- Python side: add() in memmark/redis/_protocol.py.
local mode = ARGV[2]
local mark_count = tonumber(ARGV[3])
local first = 4 + mark_count
local count = #ARGV - first + 1
if mode ~= 'check' then count = count / 2 end
local ids = argv_list(first, first + count - 1)

-- One ZMSCORE for every id of the run: a command per id costs the server
-- more than the lookups themselves.
local stored = scores_of(IDS, ids)

if mode ~= 'skip' then
  local taken = {}
  for n = 1, count do
    if stored[n] then taken[#taken + 1] = ids[n] end
  end
  if #taken > 0 or mode == 'check' then
    slide_expiry()
    return {current_version(), taken}
  end
end

local encoded_marks = {}
for i = 1, mark_count do encoded_marks[i] = encode_mark(ARGV[3 + i]) end
add_messages(ids, argv_list(first + count, #ARGV), encoded_marks, stored)
write_appended()
local version = bump_version()
slide_expiry()
return {version, {}}
