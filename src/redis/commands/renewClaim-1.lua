--[[
  Extends a worker's claim on a stream, only while the worker still holds it.

  Input:
    KEYS[1] the stream's claim               <partition base>claim:<stream id>

    ARGV[1] the claim's value                <holder>|<serial>
    ARGV[2] the new lifetime, in milliseconds

  Output:
    1  renewed
    0  the claim lapsed or belongs to another holder; nothing written
]]
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
