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

local at = 4
local function next_argument()
  local value = ARGV[at]
  at = at + 1
  return value
end
-- A count, then that many arguments, as a list.
local function counted_list()
  local count = tonumber(next_argument())
  local list = argv_list(at, at + count - 1)
  at = at + count
  return list
end
local function encoded_list()
  local list = counted_list()
  for i = 1, #list do list[i] = encode_mark(list[i]) end
  return list
end
local function messages(op)
  op.ids = counted_list()
  op.payloads = argv_list(at, at + #op.ids - 1)
  at = at + #op.ids
  return op
end

local ops = {}
while at <= #ARGV do
  local code = next_argument()
  local op = {code = code}
  if code == 'a' then
    op.refuse = next_argument() == '1'
    op.marks = encoded_list()
    messages(op)
  elseif code == 'u' then
    op.marks = encoded_list()
    messages(op)
  elseif code == 'd' or code == 'm' then
    op.items = counted_list()
  elseif code == 'r' then
    local new, old = next_argument(), next_argument()
    op.new = new ~= '' and encode_mark(new) or nil
    op.old = old ~= '' and encode_mark(old) or nil
    local by_ids = next_argument() == '1'
    local ids = counted_list()
    if by_ids then op.items = ids end
  elseif code == 's' or code == 'j' then
    op.text = next_argument()
  elseif code ~= 'c' and code ~= 'p' then
    return redis.error_reply('apply: unknown operation ' .. tostring(code))
  end
  ops[#ops + 1] = op
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
for _, op in ipairs(ops) do
  if op.code == 'a' and op.refuse then
    op.stored = scores_of(IDS, op.ids)
    local taken = {}
    for n = 1, #op.ids do
      if op.stored[n] then taken[#taken + 1] = op.ids[n] end
    end
    if #taken > 0 then
      slide_expiry()
      return {3, current_version() or 0, {}, taken}
    end
  end
end

local results = {}
for i, op in ipairs(ops) do
  local code, result = op.code, 0
  if code == 'a' then
    -- The scores read above (a refusing add's) hold for a first write only:
    -- later ones look again.
    add_messages(op.ids, op.payloads, op.marks, i == 1 and op.stored or nil)
  elseif code == 'u' then
    result = upsert_messages(op.ids, op.payloads, op.marks)
  elseif code == 'd' then
    result = delete_messages(op.items)
  elseif code == 'm' then
    local more = true
    while more do
      local removed
      removed, more = delete_marked(op.items, UNBOUNDED)
      result = result + removed
    end
  elseif code == 'r' then
    if not (op.new and op.new == op.old) then
      local cursor = ''
      while cursor do
        local changed
        changed, cursor = remark_messages(op.new, op.old, op.items, cursor, UNBOUNDED)
        result = result + changed
      end
    end
  elseif code == 'c' then
    clear_messages()
  elseif code == 's' then
    store_summary(op.text)
  elseif code == 'j' then
    store_state(op.text)
  else
    result = pop_newest()
  end
  results[i] = result
end
if batch_id ~= '' then redis.call('SADD', BATCHES, batch_id) end
local version = bump_version()
slide_expiry()
return {0, version, results, {}}
