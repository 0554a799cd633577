-- get_messages: the stored messages among some ids, in session order.
-- ARGV: ttl, then the ids (no repeats)
-- Returns {payload...}, oldest first; an id not stored is left out.
-- Python side: get_messages() in memmark/redis/_protocol.py.
local seqs = scores_of(IDS, argv_list(2, #ARGV))
local found = {}
for n = 1, #ARGV - 1 do
  if seqs[n] then found[#found + 1] = tonumber(seqs[n]) end
end
table.sort(found)
local payloads = {}
for i = 1, #found do
  payloads[i] = redis.call('ZRANGEBYSCORE', ORDER, found[i], found[i])[1]
end
slide_expiry()
return payloads
