--[[
  Ends a worker's lease on a due retry (takeRetry) once its stream record is produced, or
  once the stream turned out not to wait any more: the entry goes only while it still holds
  this lease. A run of the record that failed again meanwhile has scheduled the next retry
  (a new score), which stays.

  Input:
    KEYS[1] the partition's due retries      <partition base>t:retry

    ARGV[1] the stream id
    ARGV[2] the end of the lease the worker took, in epoch microseconds

  Output:
    1  released
    0  the entry is gone or holds another time; nothing written
]]
local due = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not due or tonumber(due) ~= tonumber(ARGV[2]) then
  return 0
end
redis.call('ZREM', KEYS[1], ARGV[1])
return 1
