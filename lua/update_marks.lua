-- update_marks: re-mark messages (see MemoryBase.update_messages_mark).
-- ARGV: ttl, new, old, by_ids, cursor, budget, then the ids (no repeats)
--   new / old: "" for None.  by_ids: "1" when the selection is narrowed to
--   the ids that follow, "0" otherwise.  cursor: "" to start, else the seq
--   where an earlier run stopped (for "add new to every message"; with ids,
--   the position of the first id to do, which the run after a stop gets).
-- Touches at most `budget` messages; a run also stops once the payloads it
-- read or copied pass RUN_BYTES (only a heavy session weighs first, when it
-- adds a mark to every message).
-- Returns {version, changed, next cursor or false}: the session's version
-- after the run (moved on unless the run had nothing to do); a cursor ("" when walking old's
-- index, which shrinks run by run) means: run again. Each run is atomic and
-- idempotent.
-- Python side: update_marks() in memmark/redis/_protocol.py.
local new = ARGV[2] ~= '' and encode_mark(ARGV[2]) or nil
local old = ARGV[3] ~= '' and encode_mark(ARGV[3]) or nil

if new and new == old then
  slide_expiry()
  return {current_version(), 0, false}
end

local ids = nil
if ARGV[4] == '1' then ids = argv_list(7, #ARGV) end
local changed, next_cursor = remark_messages(new, old, ids, ARGV[5], tonumber(ARGV[6]))
local version = bump_version()
slide_expiry()
return {version, changed, next_cursor}
