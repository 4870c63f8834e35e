--[[
  The matcher records the last repartition offset it applied to a partition's state, only
  while it still has the partition's owner epoch: a fenced-out owner's offset never lands.

  Input:
    KEYS[1] the partition's owner epoch      <partition base>epoch
    KEYS[2] the partition's applied offset   <partition base>offset

    ARGV[1] the owner epoch the caller holds
    ARGV[2] the offset

  Output:
     1  written
    -2  the owner epoch moved on (another instance owns the partition); nothing written
]]
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return -2
end
redis.call('SET', KEYS[2], ARGV[2])
return 1
