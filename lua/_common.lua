-- Shared prelude, prepended to every script of memmark-redis when it is loaded.
--
-- KEYS of every script, all under one hash tag (so one slot); the Python side
-- names them once, in memmark/redis/_keys.py (SessionKeys, suffix in brackets):
--   KEYS[1] summary     (:s) string  the compressed summary
--   KEYS[2] order       (:o) zset    score = seq, member = the message's payload
--   KEYS[3] ids         (:i) zset    score = seq, member = the message's id
--   KEYS[4] marks       (:x) hash    message id -> its marks blob
--   KEYS[5] mark index  (:k) zset    all scores 0, member = encoded mark .. seq16 .. payload
--   KEYS[6] version     (:v) string  a counter every write run moves on by one
--   KEYS[7] updated     (:u) string  the server's time of the last write run, in microseconds
--   KEYS[8] state       (:j) string  the session state slot: a JSON document, as the client encoded it
--   KEYS[9] batches     (:b) set     the ids of the batches applied to the session (see apply)
-- A payload is msgpack (see memmark/redis/_codec.py); an encoded mark is
-- "<byte length>:<mark>", and a marks blob is a message's encoded marks joined.
-- ARGV[1] of every script is the keys' TTL in milliseconds; "0": no expiry.
local unpack = unpack or table.unpack
local SUMMARY, ORDER, IDS, MARKS, MARK_INDEX = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local VERSION, UPDATED, STATE, BATCHES = KEYS[6], KEYS[7], KEYS[8], KEYS[9]
local SESSION_KEY_COUNT = 9
local TTL = tonumber(ARGV[1])

-- Set by a run that may leave its keys' expiries apart: one that made the
-- version key beside older keys, or renamed keys in from staging.
local expiry_unsettled = false

-- Every call leaves all the session's keys with the same expiry, so a
-- session can never be half expired (a stray mark index pointing at
-- messages gone, a state slot or batch ids outliving their messages).
-- Without a TTL, a version key without expiry means every key is without
-- one already: the keys shared one expiry after the run before, and a run
-- only drops expiries (SET) or makes keys without one, unless it says
-- otherwise in expiry_unsettled. One PTTL then stands for nine PERSIST.
local function slide_expiry()
  if TTL > 0 then
    for i = 1, SESSION_KEY_COUNT do redis.call('PEXPIRE', KEYS[i], TTL) end
  elseif expiry_unsettled or redis.call('PTTL', VERSION) ~= -1 then
    for i = 1, SESSION_KEY_COUNT do redis.call('PERSIST', KEYS[i]) end
  end
end

-- The session's version, or false when it has none (a new session, one
-- written before versions existed, or one whose keys expired).
local function current_version()
  local version = redis.call('GET', VERSION)
  return version and tonumber(version)
end

-- Move the version on by one and return it, and record the time of the
-- write (what a listing of sessions sorts by). A client that holds the
-- messages of version v and sees v + 1 after its own write knows no one
-- else wrote in between. A missing counter starts at the server's clock in
-- microseconds, so a session that was deleted or expired and is written
-- again does not repeat a version some client may still hold for it: a
-- run takes more than a microsecond, so no counter outruns the clock.
-- Every run that writes calls this once, every other run never.
local function bump_version()
  local now = redis.call('TIME')
  local micros = string.format('%d', tonumber(now[1]) * 1000000 + tonumber(now[2]))
  redis.call('SET', UPDATED, micros)
  local version = redis.call('INCR', VERSION)
  if version == 1 then
    version = tonumber(micros)
    redis.call('SET', VERSION, micros)
    expiry_unsettled = true -- older keys (a session from before versions) may expire
  end
  return version
end

-- Fixed width, so that the mark index sorts by message order within a mark.
local function padded_seq(seq)
  return string.format('%016d', tonumber(seq))
end

-- A length prefix makes the encoding prefix-free: no mark's entries can
-- fall inside another mark's lexical range, whatever bytes the marks hold.
local function encode_mark(mark)
  return #mark .. ':' .. mark
end

-- The lexical range (min, max) of every mark index entry of an encoded mark.
local function mark_range(encoded)
  return '[' .. encoded, '(' .. encoded .. '\255'
end

-- The message id inside a payload that starts at position `at` of `entry`.
-- A payload is a msgpack array of 7 whose first element is the id, packed
-- as a msgpack str (fixstr, str8, str16 or str32 header, then UTF-8 bytes).
local function payload_id(entry, at)
  local header = string.byte(entry, at + 1)
  if header < 0xd9 then return string.sub(entry, at + 2, at + 1 + header - 0xa0) end
  local length, start
  if header == 0xd9 then
    length, start = string.byte(entry, at + 2), at + 3
  elseif header == 0xda then
    local high, low = string.byte(entry, at + 2, at + 3)
    length, start = high * 256 + low, at + 4
  else
    local b1, b2, b3, b4 = string.byte(entry, at + 2, at + 5)
    length, start = ((b1 * 256 + b2) * 256 + b3) * 256 + b4, at + 6
  end
  return string.sub(entry, start, start + length - 1)
end

-- Remove the index entry of one message under one encoded mark. The seq
-- is unique, so the entry is the only member starting with encoded .. seq;
-- a payload starts with 0x97, so every such member sorts below
-- encoded .. seq .. 0xff.
local function remove_index_entry(encoded, seq16)
  redis.call('ZREMRANGEBYLEX', MARK_INDEX, '[' .. encoded .. seq16,
    '(' .. encoded .. seq16 .. '\255')
end

-- Split a marks blob into its encoded marks.
local function split_marks(blob)
  local encoded, position, size = {}, 1, #blob
  while position <= size do
    local colon = string.find(blob, ':', position, true)
    local stop = colon + tonumber(string.sub(blob, position, colon - 1))
    encoded[#encoded + 1] = string.sub(blob, position, stop)
    position = stop + 1
  end
  return encoded
end

-- Whether a marks blob holds the encoded mark (compared mark by mark: a
-- substring search would find "3:abc" inside "6:x3:abc").
local function blob_carries(blob, encoded)
  for _, carried in ipairs(split_marks(blob)) do
    if carried == encoded then return true end
  end
  return false
end

-- Remove every mark index entry of the message at seq16 carrying `blob`.
local function unindex(blob, seq16)
  for _, encoded in ipairs(split_marks(blob)) do remove_index_entry(encoded, seq16) end
end

-- Run a variadic command over a long list in slices, under Lua's unpack
-- limit; slices are even so (score, member) and (field, value) pairs hold.
-- Returns the replies of a command that answers one value per item
-- (HMGET, ZMSCORE) joined in order.
local function call_in_slices(command, key, items)
  local count = #items
  if count == 0 then return {} end
  if count <= 4000 then return redis.call(command, key, unpack(items)) end
  local replies = {}
  for i = 1, count, 4000 do
    local reply = redis.call(command, key, unpack(items, i, math.min(i + 3999, count)))
    if type(reply) == 'table' then
      for j = 1, #reply do replies[#replies + 1] = reply[j] end
    end
  end
  return replies
end

-- How many payload bytes one run may move (read, or copy into the mark
-- index), besides its count budget: a few multi-megabyte messages would
-- otherwise hold the server for hundreds of milliseconds. RUN_BYTES in
-- memmark/redis/_runs.py is the same number. A run always takes at least
-- one message, so one of up to max_message_bytes is a run of its own.
local RUN_BYTES = 4194304

-- Whether the session's payloads together may pass RUN_BYTES, so that runs
-- must count bytes (a session under it is read as before, at no extra
-- cost). MEMORY USAGE walks the members without copying them, but it walks
-- them all: a session of more than WEIGHED messages is not weighed and
-- counts as heavy (its reads page by count anyway). A server without the
-- command (an emulator) takes every session as light.
local WEIGHED = 8192
local heavy_session
-- The budget of a call that must do all its work in one run (a batch's
-- operations): it never weighs the session, whose pages it would not cut.
local UNBOUNDED = 2147483647
local function heavy()
  if heavy_session == nil then
    if redis.call('ZCARD', ORDER) > WEIGHED then
      heavy_session = true
    else
      local usage = redis.pcall('MEMORY', 'USAGE', ORDER, 'SAMPLES', '0')
      heavy_session = type(usage) == 'number' and usage > RUN_BYTES
    end
  end
  return heavy_session
end

-- The width of the next page of a run that counts bytes (a heavy session's
-- read, a bounded delete by mark or re-mark by mark) and has read
-- `count` messages and `bytes` payload bytes so far, the largest `largest`:
-- pages start at one message and at most double, and never ask for more
-- than the bytes left would hold at the largest size seen. `cap` bounds it.
local function page_width(count, bytes, largest, cap)
  local width = math.max(1, count)
  if largest > 0 then width = math.min(width, math.floor((RUN_BYTES - bytes) / largest)) end
  return math.max(1, math.min(width, cap))
end

-- The marks blobs of `ids` (false for a message without marks).
local function marks_of(ids)
  return call_in_slices('HMGET', MARKS, ids)
end

-- The scores of `members` in the sorted set `key` (false for a member not in it).
local function scores_of(key, members)
  return call_in_slices('ZMSCORE', key, members)
end

-- The arguments ARGV[first..last] as a list.
local function argv_list(first, last)
  local list = {}
  for i = first, last do list[#list + 1] = ARGV[i] end
  return list
end

-- Store the summary; "" removes it.
local function store_summary(summary)
  if summary == '' then
    redis.call('DEL', SUMMARY)
  else
    redis.call('SET', SUMMARY, summary)
  end
end

-- page_after for a heavy session: pages of payloads (with their seqs) by
-- page_width until RUN_BYTES or `budget` messages; ids come out of the
-- payloads.
local function heavy_page_after(cursor, budget)
  local ids, seqs, payloads = {}, {}, {}
  local bytes, largest, position, stopped = 0, 0, cursor, false
  while #ids < budget do
    if bytes >= RUN_BYTES then
      stopped = true
      break
    end
    local width = page_width(#ids, bytes, largest, budget - #ids)
    local page = redis.call('ZRANGEBYSCORE', ORDER, position == '' and '-inf' or '(' .. position,
      '+inf', 'WITHSCORES', 'LIMIT', 0, width)
    for i = 1, #page, 2 do
      local payload = page[i]
      payloads[#payloads + 1] = payload
      seqs[#seqs + 1] = page[i + 1]
      ids[#ids + 1] = payload_id(payload, 1)
      bytes = bytes + #payload
      if #payload > largest then largest = #payload end
    end
    if #page < 2 * width then break end
    position = page[#page]
  end
  return ids, seqs, payloads, (stopped or #ids == budget) and #ids > 0 and seqs[#seqs]
end

-- The next `budget` messages after seq `cursor` ("" to start from the
-- first): their ids, seqs and payloads, and the cursor to run on from
-- (false when there is nothing more).
local function page_after(cursor, budget)
  if budget < UNBOUNDED and heavy() then return heavy_page_after(cursor, budget) end
  local page = redis.call('ZRANGEBYSCORE', IDS, cursor == '' and '-inf' or '(' .. cursor,
    '+inf', 'WITHSCORES', 'LIMIT', 0, budget)
  local ids, seqs, payloads = {}, {}, {}
  for i = 1, #page, 2 do
    ids[#ids + 1] = page[i]
    seqs[#seqs + 1] = page[i + 1]
  end
  if #ids > 0 then
    -- ids and order hold the same seqs, so this window is exactly these messages.
    payloads = redis.call('ZRANGEBYSCORE', ORDER, seqs[1], seqs[#seqs])
  end
  return ids, seqs, payloads, #ids == budget and seqs[#seqs]
end

-- New messages, gathered so that they are written with a few bulk commands
-- (a command per message costs the server more than the write itself).
local function new_batch()
  return {ids = {}, order = {}, marks = {}, index = {}}
end

-- Add one message to `batch`: its id and payload at `seq`, and, when it has
-- marks, its marks blob and one mark index entry per encoded mark.
local function add_to_batch(batch, seq, id, payload, blob, encoded_marks)
  local ids, order = batch.ids, batch.order
  ids[#ids + 1] = seq
  ids[#ids + 1] = id
  order[#order + 1] = seq
  order[#order + 1] = payload
  if #encoded_marks > 0 then
    local marks, index = batch.marks, batch.index
    marks[#marks + 1] = id
    marks[#marks + 1] = blob
    -- The payload rides in the index, so a mark read is one range read.
    -- (One concatenation of three makes one string; a shared seq ..
    -- payload part would cost a string of payload size more.)
    local seq16 = padded_seq(seq)
    for i = 1, #encoded_marks do
      index[#index + 1] = 0
      index[#index + 1] = encoded_marks[i] .. seq16 .. payload
    end
  end
end

-- Write a batch to the given order, ids, marks and mark index keys.
local function write_batch(batch, order_key, ids_key, marks_key, index_key)
  if #batch.ids > 0 then
    call_in_slices('ZADD', ids_key, batch.ids)
    call_in_slices('ZADD', order_key, batch.order)
  end
  if #batch.marks > 0 then call_in_slices('HSET', marks_key, batch.marks) end
  if #batch.index > 0 then call_in_slices('ZADD', index_key, batch.index) end
end

