--[[
  Claims a stream for a worker before its pipeline runs: a fenced, expiring key, set only
  while the stream's metadata is still the text the worker found runnable.

  Input:
    KEYS[1] the stream's metadata            <partition base>s:<stream id>
    KEYS[2] the stream's claim               <partition base>claim:<stream id>

    ARGV[1] the metadata text the caller read and found runnable
    ARGV[2] the claim's value                <holder>|<serial>
    ARGV[3] the claim's lifetime, in milliseconds

  Output:
     1  claimed, or already held with this value
     0  held by another holder (or for another serial)
    -1  the metadata changed since the caller read it; nothing written
]]
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return -1
end
if redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3], 'NX') then
  return 1
end
if redis.call('GET', KEYS[2]) == ARGV[2] then
  return 1
end
return 0
