-- Shared prelude, prepended to every script of memmark-redis when it is loaded.
--
-- KEYS of every script, all under one hash tag (so one slot):
--   KEYS[1] s  string  the compressed summary
--   KEYS[2] o  zset    score = seq, member = msgpack payload (message order)
--   KEYS[3] i  zset    score = seq, member = message id (dedupe, delete by id)
--   KEYS[4] x  hash    message id -> its marks, each as "<byte length>:<mark>"
--   KEYS[5] k  zset    all scores 0, member = "<len>:<mark>" .. seq16 .. payload
-- ARGV[1] is the key TTL in milliseconds; "0" means the keys do not expire.
local unpack = unpack or table.unpack
local TTL = tonumber(ARGV[1])

-- Every call leaves all five keys with the same expiry, so a session can
-- never be half expired (a stray mark index pointing at messages gone).
local function slide()
  if TTL > 0 then
    for i = 1, 5 do redis.call('PEXPIRE', KEYS[i], TTL) end
  else
    for i = 1, 5 do redis.call('PERSIST', KEYS[i]) end
  end
end

-- Fixed width, so that the mark index sorts by message order within a mark.
local function s16(seq)
  return string.format('%016d', tonumber(seq))
end

-- A length prefix makes the encoding prefix-free: no mark's entries can
-- fall inside another mark's lexical range, whatever bytes the marks hold.
local function emark(m)
  return #m .. ':' .. m
end

-- The message id inside a payload that starts at position `at` of `s`.
-- A payload is a msgpack array of 7 whose first element is the id, packed
-- as a msgpack str (fixstr, str8, str16 or str32 header, then UTF-8 bytes).
local function pid(s, at)
  local b = string.byte(s, at + 1)
  if b < 0xd9 then return string.sub(s, at + 2, at + 1 + b - 0xa0) end
  local n, off
  if b == 0xd9 then
    n, off = string.byte(s, at + 2), at + 3
  elseif b == 0xda then
    local h, l = string.byte(s, at + 2, at + 3)
    n, off = h * 256 + l, at + 4
  else
    local w, x, y, z = string.byte(s, at + 2, at + 5)
    n, off = ((w * 256 + x) * 256 + y) * 256 + z, at + 6
  end
  return string.sub(s, off, off + n - 1)
end

-- Remove the index entry of one message under one encoded mark. The seq
-- is unique, so the entry is the only member starting with p .. s; a
-- payload starts with 0x97, so every such member sorts below p .. s .. 0xff.
local function unmark(p, s)
  redis.call('ZREMRANGEBYLEX', KEYS[5], '[' .. p .. s, '(' .. p .. s .. '\255')
end

-- Split a marks blob into its encoded pieces ("<len>:<mark>" each).
local function pieces(blob)
  local out, pos, n = {}, 1, #blob
  while pos <= n do
    local colon = string.find(blob, ':', pos, true)
    local stop = colon + tonumber(string.sub(blob, pos, colon - 1))
    out[#out + 1] = string.sub(blob, pos, stop)
    pos = stop + 1
  end
  return out
end

-- Run a variadic command over a long list in slices, under Lua's unpack
-- limit; slices are even so (score, member) and (field, value) pairs hold.
local function bulk(cmd, key, items)
  local n = #items
  for i = 1, n, 4000 do
    redis.call(cmd, key, unpack(items, i, math.min(i + 3999, n)))
  end
end

