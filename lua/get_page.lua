-- get_page: one page of the session's messages, and its version, read at one instant.
-- ARGV: ttl, limit, before, after, mark, exclude
--   limit: the most messages on the page (at least 1).
--   before / after: the id of a stored message the page starts from (the
--   newest `limit` older than it, or the oldest `limit` newer); "" for
--   none; never both. mark / exclude: "" for none.
-- Returns {found, version, has_more, {payload...}}: found 0 when the
-- cursor id is not stored (nothing else is read); version 0 for a session
-- without one; has_more 1 when the selection holds more beyond the page in
-- the walk's direction; the payloads oldest first.
-- Python side: get_page() in memmark/redis/_protocol.py.
local limit = tonumber(ARGV[2])
local before, after = ARGV[3], ARGV[4]
local mark = ARGV[5] ~= '' and encode_mark(ARGV[5]) or nil
local exclude = ARGV[6] ~= '' and encode_mark(ARGV[6]) or nil
local backwards = after == ''
local cursor = backwards and before or after

local cursor_seq = nil
if cursor ~= '' then
  cursor_seq = redis.call('ZSCORE', IDS, cursor)
  if not cursor_seq then
    slide_expiry()
    return {0, current_version() or 0, 0, {}}
  end
end

-- fetch(count): the next `count` payloads of the walk (newest first when
-- backwards), and whether the source may hold more after them.
local fetch
if mark then
  -- The mark's index entries sort by seq; an entry is mark .. seq16 ..
  -- payload, and a payload starts below \255.
  local low, high = mark_range(mark)
  if cursor_seq then
    if backwards then
      high = '(' .. mark .. padded_seq(cursor_seq)
    else
      low = '(' .. mark .. padded_seq(cursor_seq) .. '\255'
    end
  end
  local head = #mark + 17
  fetch = function(count)
    local entries
    if backwards then
      entries = redis.call('ZREVRANGEBYLEX', MARK_INDEX, high, low, 'LIMIT', 0, count)
      if #entries > 0 then high = '(' .. entries[#entries] end
    else
      entries = redis.call('ZRANGEBYLEX', MARK_INDEX, low, high, 'LIMIT', 0, count)
      if #entries > 0 then low = '(' .. entries[#entries] end
    end
    local payloads = {}
    for i = 1, #entries do payloads[i] = string.sub(entries[i], head) end
    return payloads, #entries == count
  end
else
  local low, high = '-inf', '+inf'
  if cursor_seq then
    if backwards then high = '(' .. cursor_seq else low = '(' .. cursor_seq end
  end
  fetch = function(count)
    local page
    if backwards then
      page = redis.call('ZREVRANGEBYSCORE', ORDER, high, low, 'WITHSCORES', 'LIMIT', 0, count)
    else
      page = redis.call('ZRANGEBYSCORE', ORDER, low, high, 'WITHSCORES', 'LIMIT', 0, count)
    end
    local payloads = {}
    for i = 1, #page, 2 do payloads[#payloads + 1] = page[i] end
    if #page > 0 then
      if backwards then high = '(' .. page[#page] else low = '(' .. page[#page] end
    end
    return payloads, #payloads == count
  end
end

-- One more than the page, to know whether more follow; with exclude, the
-- walk reads on (pages doubling) until it has them or the source ends.
local want = limit + 1
local taken = {}
local count = want
while true do
  local payloads, full = fetch(count)
  local blobs = {}
  if exclude and #payloads > 0 then
    local ids = {}
    for i = 1, #payloads do ids[i] = payload_id(payloads[i], 1) end
    blobs = marks_of(ids)
  end
  for i = 1, #payloads do
    if #taken == want then break end
    if not (blobs[i] and blob_carries(blobs[i], exclude)) then taken[#taken + 1] = payloads[i] end
  end
  if #taken == want or not full then break end
  count = math.max(want - #taken, math.min(count * 2, 4096))
end
local has_more = #taken > limit
if has_more then taken[#taken] = nil end
if backwards then
  local size = #taken
  for i = 1, math.floor(size / 2) do
    taken[i], taken[size + 1 - i] = taken[size + 1 - i], taken[i]
  end
end
slide_expiry()
return {1, current_version() or 0, has_more and 1 or 0, taken}
