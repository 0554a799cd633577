-- get: messages in insertion order, filtered by mark inside Redis.
-- ARGV: ttl, mark, exclude, limit, with_summary, cursor, budget
--   mark / exclude: "" for none (a mark is never empty).
--   limit: "-1" for all (walk forward from the cursor), otherwise how many
--   more of the newest are wanted (walk backward from the cursor).
--   with_summary: "1" to read the summary too, "0" not to.
--   cursor: "" to start; else what an earlier run returned.
--   budget: the most messages one run may examine, so a read of a huge
--   session is served in several short runs instead of one long one; in
--   a session heavier than RUN_BYTES a run also stops past RUN_BYTES.
-- Returns {summary or false, next cursor or false, {payload...}}, payloads
-- oldest first; a cursor means "run again from here for the rest". With a
-- mark, each item is the mark's index entry as stored, encoded mark ..
-- seq16 .. payload: the client cuts the fixed-width head off, which costs
-- it far less than a string.sub per item would cost the server. (The
-- payloads are not joined here: table.concat in the server's Lua costs
-- more than the whole read; the client joins them in microseconds.)
-- Python side: get() in memmark/redis/_protocol.py.
local limit = tonumber(ARGV[4])
local cursor = ARGV[6]
local budget = tonumber(ARGV[7])
local backward = limit >= 0

local summary = false
if ARGV[5] == '1' then summary = redis.call('GET', SUMMARY) end

local function finish(items, next_cursor)
  if backward then
    local count = #items
    for i = 1, math.floor(count / 2) do
      items[i], items[count + 1 - i] = items[count + 1 - i], items[i]
    end
  end
  slide_expiry()
  return {summary, next_cursor or false, items}
end

if limit == 0 then return finish({}) end

-- The common reads of a normal session: one range command, no paging.
-- A session whose payloads pass RUN_BYTES is read in pages instead.
if ARGV[2] == '' and ARGV[3] == '' and cursor == '' and not heavy() then
  local whole
  if backward and limit <= budget then
    whole = redis.call('ZRANGE', ORDER, -limit, -1)
  elseif not backward and redis.call('ZCARD', ORDER) <= budget then
    whole = redis.call('ZRANGE', ORDER, 0, -1)
  end
  if whole then
    backward = false
    return finish(whole)
  end
end

local wanted = ARGV[2] ~= '' and encode_mark(ARGV[2]) or nil
local excluded = ARGV[3] ~= '' and encode_mark(ARGV[3]) or nil

-- One page of candidates after (forward) or before (backward) `position`:
-- mark index entries when a mark is wanted, else (payload, seq) pairs.
local function page(position, width)
  if wanted then
    local low, high = mark_range(wanted)
    if backward then
      return redis.call('ZREVRANGEBYLEX', MARK_INDEX, position and '(' .. position or high,
        low, 'LIMIT', 0, width)
    end
    return redis.call('ZRANGEBYLEX', MARK_INDEX, position and '(' .. position or low, high,
      'LIMIT', 0, width)
  end
  if backward then
    return redis.call('ZREVRANGEBYSCORE', ORDER, position and '(' .. position or '+inf',
      '-inf', 'WITHSCORES', 'LIMIT', 0, width)
  end
  return redis.call('ZRANGEBYSCORE', ORDER, position and '(' .. position or '-inf', '+inf',
    'WITHSCORES', 'LIMIT', 0, width)
end

local kept, examined = {}, 0
local position = cursor ~= '' and cursor or nil
local done = false
local step = wanted and 1 or 2
-- Only a heavy session counts bytes (see page_width): a run stops once
-- the payloads it read pass RUN_BYTES, with a cursor to run on from.
local counting = heavy()
local bytes, largest = 0, 0
while not done and examined < budget and bytes < RUN_BYTES do
  local width = budget - examined
  if backward then width = math.min(width, math.max(2 * (limit - #kept), 64)) end
  if counting then width = page_width(examined, bytes, largest, width) end
  local items = page(position, width)
  local count = #items / step
  examined = examined + count
  if count < width then done = true end
  if counting then
    for i = 1, #items, step do
      local length = #items[i]
      bytes = bytes + length
      if length > largest then largest = length end
    end
  end
  if count > 0 then
    if wanted and not excluded and not backward and #kept == 0 then
      -- A plain forward mark read keeps every entry of the page as it is.
      kept = items
    elseif wanted then
      for i = 1, #items do
        local entry = items[i]
        local keep = true
        if excluded then
          -- The seq is unique, so the excluded mark's entry for this
          -- message, if any, is the one member starting with excluded ..
          -- seq16 (see remove_index_entry).
          local seq16 = string.sub(entry, #wanted + 1, #wanted + 16)
          keep = redis.call('ZLEXCOUNT', MARK_INDEX, '[' .. excluded .. seq16,
            '(' .. excluded .. seq16 .. '\255') == 0
        end
        if keep then
          kept[#kept + 1] = entry
          if backward and #kept == limit then
            done = true
            break
          end
        end
      end
    else
      -- Exclusion without a mark: fetch the excluded seqs of this window
      -- only, so the work stays proportional to the page.
      local low, high = items[2], items[#items]
      if backward then low, high = high, low end
      local skip = {}
      if excluded then
        local hits = redis.call('ZRANGEBYLEX', MARK_INDEX, '[' .. excluded .. padded_seq(low),
          '(' .. excluded .. padded_seq(high) .. '\255')
        -- Keyed by number: no string.format per item below.
        for _, entry in ipairs(hits) do
          skip[tonumber(string.sub(entry, #excluded + 1, #excluded + 16))] = true
        end
      end
      for i = 1, #items, 2 do
        if not skip[tonumber(items[i + 1])] then
          kept[#kept + 1] = items[i]
          if backward and #kept == limit then
            done = true
            break
          end
        end
      end
    end
    position = items[#items]
  end
end
return finish(kept, not done and position)
