-- summary: store the compressed summary ("" removes it).
-- ARGV: ttl, summary
if ARGV[2] == '' then
  redis.call('DEL', KEYS[1])
else
  redis.call('SET', KEYS[1], ARGV[2])
end
slide()
return 0
