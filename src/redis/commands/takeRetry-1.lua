--[[
  A worker takes a due retry to produce its stream record: the entry stays in the due
  retries, leased until ARGV[3] (its score moves there), so no other worker produces it
  meanwhile and, should this one die before it is done, another takes it once the lease
  has passed. Releasing it (releaseRetry) removes it once the record is acknowledged.

  Input:
    KEYS[1] the partition's due retries      <partition base>t:retry

    ARGV[1] the stream id
    ARGV[2] now, in epoch microseconds
    ARGV[3] the end of the lease, in epoch microseconds

  Output:
    1  taken
    0  not due (or leased by another worker), or no longer waiting; nothing written
]]
local due = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not due or tonumber(due) > tonumber(ARGV[2]) then
  return 0
end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
return 1
