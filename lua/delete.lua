-- delete: remove messages by id, with their marks.
-- ARGV: ttl, then the ids (no repeats: the caller de-duplicates)
-- Returns {version, removed}: the session's new version and the number of
-- messages removed.
-- Python side: delete() in memmark/redis/_protocol.py.
-- The ids' seqs and marks come in one ZMSCORE and one HMGET (a run holds at
-- most 2,000 ids, under unpack's limit): a command per id costs more.
local ids = {unpack(ARGV, 2)}
local seqs = redis.call('ZMSCORE', IDS, unpack(ids))
local blobs = marks_of(ids)
local removed, unmarked = {}, {}
for n = 1, #ids do
  local seq = seqs[n]
  if seq then
    local id = ids[n]
    removed[#removed + 1] = id
    redis.call('ZREMRANGEBYSCORE', ORDER, seq, seq)
    local blob = blobs[n]
    if blob then
      unmarked[#unmarked + 1] = id
      unindex(blob, padded_seq(seq))
    end
  end
end
if #removed > 0 then call_in_slices('ZREM', IDS, removed) end
if #unmarked > 0 then call_in_slices('HDEL', MARKS, unmarked) end
local version = bump_version()
slide_expiry()
return {version, #removed}
