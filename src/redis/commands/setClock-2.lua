--[[
  Event clock: writes a repartition partition's clock fields (source watermarks, the
  `clock advance` floor and the clock itself, which the caller computed and which never goes
  backwards), only while the partition still has the caller's owner epoch and the clock hash
  still holds exactly the fields and values the caller computed from.

  Input:
    KEYS[1] the partition's owner epoch      <partition base>epoch
    KEYS[2] the partition's clock            <partition base>clock

    ARGV[1] the owner epoch the caller holds
    ARGV[2] how many fields the clock had when the caller read it (n)
    ARGV[3] .. ARGV[2 + 2n] the clock as read: field, value, field, value, ...
    ARGV[3 + 2n] .. the fields to set: field, value, ...

  Output:
     1  written
    -1  the clock changed since the caller read it; nothing written
    -2  the owner epoch moved on (another instance owns the partition); nothing written
]]
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return -2
end
local read = tonumber(ARGV[2])
if redis.call('HLEN', KEYS[2]) ~= read then
  return -1
end
local FIRST_READ = 3
local firstUpdate = FIRST_READ + 2 * read
for i = FIRST_READ, firstUpdate - 1, 2 do
  if redis.call('HGET', KEYS[2], ARGV[i]) ~= ARGV[i + 1] then
    return -1
  end
end
if #ARGV >= firstUpdate then
  redis.call('HSET', KEYS[2], unpack(ARGV, firstUpdate))
end
return 1
