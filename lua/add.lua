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

-- One ZMSCORE for every id of the run: a command per id costs the server
-- more than the lookups themselves. (A run holds at most 2,000 ids, well
-- under unpack's limit.)
local stored = redis.call('ZMSCORE', IDS, unpack(ARGV, first, first + count - 1))

if mode ~= 'skip' then
  local taken = {}
  for n = 1, count do
    if stored[n] then taken[#taken + 1] = ARGV[first + n - 1] end
  end
  if #taken > 0 or mode == 'check' then
    slide_expiry()
    return {current_version(), taken}
  end
end

local encoded_marks = {}
for i = 1, mark_count do encoded_marks[i] = encode_mark(ARGV[3 + i]) end
local blob = table.concat(encoded_marks)

-- The order comes from Redis: one past the newest stored message.
local newest = redis.call('ZRANGE', IDS, -1, -1, 'WITHSCORES')
local seq = tonumber(newest[2] or '0')

local batch, seen = new_batch(), {}
for n = 1, count do
  local id = ARGV[first + n - 1]
  if not stored[n] and not seen[id] then
    seen[id] = true
    seq = seq + 1
    add_to_batch(batch, seq, id, ARGV[first + count + n - 1], blob, encoded_marks)
  end
end
write_batch(batch, ORDER, IDS, MARKS, MARK_INDEX)
local version = bump_version()
slide_expiry()
return {version, {}}
