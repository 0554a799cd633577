-- apply: a batch of writes, in order, all or nothing, in one run.
-- ARGV: ttl, batch_id, expected, then each operation: a code and its arguments
--   add            "a", refuse, mark_count, mark * mark_count, n, id * n, payload * n
--   upsert         "u", mark_count, mark * mark_count, n, id * n, payload * n
--   delete         "d", n, id * n
--   delete_by_mark "m", n, mark * n
--   clear          "c"
--   update_marks   "r", new, old, by_ids, n, id * n   (new / old "" for none;
--                  by_ids "1" when the ids narrow the selection)
--   summary        "s", summary ("" removes it)
--   state          "j", the state slot's JSON text ("" removes it)
--   pop            "p"
--   batch_id / expected: "" for none; expected is the version the session
--   must be at ("0" for a session without one). refuse: "1" when an id
--   stored as the batch began refuses the whole batch, "0" to skip it.
-- Returns {status, version, {result...}, {id...}}:
--   status 0: applied; version is the new one, one result per operation
--     (add, clear, summary, state: 0; upsert: how many replaced; delete,
--     delete_by_mark: how many removed; update_marks: how many changed;
--     pop: the payload removed, or false).
--   status 1: batch_id was applied before; nothing written; version now.
--   status 2: the session is not at `expected`; nothing written; version now.
--   status 3: a refusing add met stored ids; nothing written; the ids of
--     the first such add, in its order.
-- Everything is read and checked before the first write: an error half
-- way through a script leaves the writes before it in place.
-- Python side: apply() in memmark/redis/_protocol.py.
local batch_id, expected = ARGV[2], ARGV[3]
-- Each call of the shared operations gets the budget UNBOUNDED: it does
-- all its work, so a batch is one run whatever it holds.

-- The operations are read from ARGV twice: a first walk checks the batch
-- before anything is written, then each is read again as it runs. Parsing
-- them into tables once would cost the server more: every table a run
-- makes is an allocation, and adds to the Lua garbage collector's work.
local at
local function next_argument()
  local value = ARGV[at]
  at = at + 1
  return value
end
-- A count, then that many arguments: return the first one's position and
-- the count, and move past them.
local function counted_span()
  local count = tonumber(next_argument())
  local first = at
  at = at + count
  return first, count
end
-- A count, then that many arguments, as a list.
local function counted_list()
  local first, count = counted_span()
  return argv_list(first, first + count - 1)
end
local function encoded_list()
  local list = counted_list()
  for i = 1, #list do list[i] = encode_mark(list[i]) end
  return list
end
-- An add's or upsert's messages: marks, a count, the ids, the payloads.
-- Return the position of the first id and the count, and move past them.
local function message_span()
  counted_span() -- the marks
  local first, count = counted_span()
  at = at + count -- the payloads
  return first, count
end
-- The same, read: the encoded marks, the ids and the payloads.
local function messages()
  local marks = encoded_list()
  local ids = counted_list()
  local payloads = argv_list(at, at + #ids - 1)
  at = at + #ids
  return marks, ids, payloads
end

-- The first walk: every code known, and where each refusing add's ids are.
local refusing = {} -- the first id's position, then the count, per refusing add
local first_refuses = ARGV[4] == 'a' and ARGV[5] == '1'
at = 4
while at <= #ARGV do
  local code = next_argument()
  if code == 'a' then
    local refuse = next_argument() == '1'
    local first, count = message_span()
    if refuse then
      refusing[#refusing + 1] = first
      refusing[#refusing + 1] = count
    end
  elseif code == 'u' then
    message_span()
  elseif code == 'd' or code == 'm' then
    counted_span()
  elseif code == 'r' then
    at = at + 3 -- new, old, by_ids
    counted_span()
  elseif code == 's' or code == 'j' then
    at = at + 1
  elseif code ~= 'c' and code ~= 'p' then
    return redis.error_reply('apply: unknown operation ' .. tostring(code))
  end
end

if batch_id ~= '' and redis.call('SISMEMBER', BATCHES, batch_id) == 1 then
  slide_expiry()
  return {1, current_version() or 0, {}, {}}
end
-- Compared as text: the counter is stored as decimal digits.
if expected ~= '' and (redis.call('GET', VERSION) or '0') ~= expected then
  slide_expiry()
  return {2, current_version() or 0, {}, {}}
end
-- The scores of the first operation's ids, when it is a refusing add: they
-- still hold when it runs, as nothing is written before it.
local first_stored
for r = 1, #refusing, 2 do
  local ids = argv_list(refusing[r], refusing[r] + refusing[r + 1] - 1)
  local stored = scores_of(IDS, ids)
  local taken = {}
  for n = 1, #ids do
    if stored[n] then taken[#taken + 1] = ids[n] end
  end
  if #taken > 0 then
    slide_expiry()
    return {3, current_version() or 0, {}, taken}
  end
  if r == 1 and first_refuses then first_stored = stored end
end

-- The second walk runs each operation as it reads it.
local results = {}
at = 4
while at <= #ARGV do
  local code, result = next_argument(), 0
  if code == 'a' then
    at = at + 1 -- refuse: checked above
    local marks, ids, payloads = messages()
    add_messages(ids, payloads, marks, #results == 0 and first_stored or nil)
  elseif code == 'u' then
    local marks, ids, payloads = messages()
    result = upsert_messages(ids, payloads, marks)
  elseif code == 'd' then
    result = delete_messages(counted_list())
  elseif code == 'm' then
    local marks, more = counted_list(), true
    while more do
      local removed
      removed, more = delete_marked(marks, UNBOUNDED)
      result = result + removed
    end
  elseif code == 'r' then
    local new, old = next_argument(), next_argument()
    new = new ~= '' and encode_mark(new) or nil
    old = old ~= '' and encode_mark(old) or nil
    local by_ids = next_argument() == '1'
    local ids = counted_list()
    if not (new and new == old) then
      local cursor = ''
      while cursor do
        local changed
        changed, cursor = remark_messages(new, old, by_ids and ids or nil, cursor, UNBOUNDED)
        result = result + changed
      end
    end
  elseif code == 'c' then
    clear_messages()
  elseif code == 's' then
    store_summary(next_argument())
  elseif code == 'j' then
    store_state(next_argument())
  else
    result = pop_newest()
  end
  results[#results + 1] = result
end
write_appended()
if batch_id ~= '' then redis.call('SADD', BATCHES, batch_id) end
local version = bump_version()
slide_expiry()
return {0, version, results, {}}
