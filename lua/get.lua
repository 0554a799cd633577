-- get: messages in insertion order, filtered by mark inside Redis.
-- ARGV: ttl, mark, exclude, limit, want_summary, cursor, budget
--   mark / exclude: "" for none (a mark is never empty).
--   limit: "-1" for all (walk forward from the cursor), otherwise how many
--   more of the newest are wanted (walk backward from the cursor).
--   cursor: "" to start; else what an earlier run returned.
--   budget: the most messages one run may examine, so a read of a huge
--   session is served in several short runs instead of one long one.
-- Returns {summary or false, next cursor or false, {payload...}}, payloads
-- oldest first; a cursor means "run again from here for the rest". With a
-- mark, each item is the mark's index entry as stored, "<len>:<mark>" ..
-- seq16 .. payload: the client cuts the fixed-width head off, which costs
-- it far less than a string.sub per item would cost the server. (The
-- payloads are not joined here: table.concat in the server's Lua costs
-- more than the whole read; the client joins them in microseconds.)
local mark, excl = ARGV[2], ARGV[3]
local limit = tonumber(ARGV[4])
local cursor = ARGV[6]
local budget = tonumber(ARGV[7])
local back = limit >= 0

local summary = false
if ARGV[5] == '1' then summary = redis.call('GET', KEYS[1]) end

local function finish(list, cur)
  if back then
    local n = #list
    for i = 1, math.floor(n / 2) do list[i], list[n + 1 - i] = list[n + 1 - i], list[i] end
  end
  slide()
  return {summary, cur or false, list}
end

if limit == 0 then return finish({}) end

-- The common reads of a normal session: one range command, no paging.
if mark == '' and excl == '' and cursor == '' then
  local whole
  if back and limit <= budget then
    whole = redis.call('ZRANGE', KEYS[2], -limit, -1)
  elseif not back and redis.call('ZCARD', KEYS[2]) <= budget then
    whole = redis.call('ZRANGE', KEYS[2], 0, -1)
  end
  if whole then
    back = false
    return finish(whole)
  end
end

local em = mark ~= '' and emark(mark) or nil
local ee = excl ~= '' and emark(excl) or nil

-- One page of candidates after (forward) or before (backward) `cur`.
local function page(cur, w)
  if em then
    if back then
      return redis.call('ZREVRANGEBYLEX', KEYS[5], cur and '(' .. cur or '(' .. em .. '\255',
        '[' .. em, 'LIMIT', 0, w)
    end
    return redis.call('ZRANGEBYLEX', KEYS[5], cur and '(' .. cur or '[' .. em,
      '(' .. em .. '\255', 'LIMIT', 0, w)
  end
  if back then
    return redis.call('ZREVRANGEBYSCORE', KEYS[2], cur and '(' .. cur or '+inf', '-inf',
      'WITHSCORES', 'LIMIT', 0, w)
  end
  return redis.call('ZRANGEBYSCORE', KEYS[2], cur and '(' .. cur or '-inf', '+inf',
    'WITHSCORES', 'LIMIT', 0, w)
end

local list, examined = {}, 0
local cur = cursor ~= '' and cursor or nil
local done = false
while not done and examined < budget do
  local w = budget - examined
  if back then w = math.min(w, math.max(2 * (limit - #list), 64)) end
  local items = page(cur, w)
  local step = em and 1 or 2
  local n = #items / step
  examined = examined + n
  if n < w then done = true end
  if n > 0 then
    if em and not ee and not back and #list == 0 then
      -- A plain forward mark read keeps every entry of the page as it is.
      list = items
      cur = items[#items]
    elseif em then
      for i = 1, #items do
        local member = items[i]
        local keep = true
        if ee then
          -- The seq is unique, so ee's entry for this message, if any, is
          -- the one member starting with ee .. s (see unmark).
          local s = string.sub(member, #em + 1, #em + 16)
          keep = redis.call('ZLEXCOUNT', KEYS[5], '[' .. ee .. s, '(' .. ee .. s .. '\255') == 0
        end
        if keep then
          list[#list + 1] = member
          if back and #list == limit then
            done = true
            break
          end
        end
      end
      cur = items[#items]
    else
      -- Exclusion without a mark: fetch the excluded seqs of this window
      -- only, so the work stays proportional to the page.
      local lo, hi = items[2], items[#items]
      if back then lo, hi = hi, lo end
      local skip = {}
      if ee then
        local hits = redis.call('ZRANGEBYLEX', KEYS[5], '[' .. ee .. s16(lo),
          '(' .. ee .. s16(hi) .. '\255')
        -- Keyed by number: no string.format per item below.
        for _, m in ipairs(hits) do skip[tonumber(string.sub(m, #ee + 1, #ee + 16))] = true end
      end
      for i = 1, #items, 2 do
        if not skip[tonumber(items[i + 1])] then
          list[#list + 1] = items[i]
          if back and #list == limit then
            done = true
            break
          end
        end
      end
      cur = items[#items]
    end
  end
end
return finish(list, not done and cur)
