--[[
  Reads what a due retry's stream record is rebuilt from, at one instant: the stream's
  metadata, its failed attempts and its events. A script rather than a MULTI: during a slot
  migration a cluster client may re-send a MULTI to the importing node, which answers keys
  not moved yet as missing; a script runs only where all of its keys are.

  Input:
    KEYS[1] the stream's metadata            <partition base>s:<stream id>
    KEYS[2] the stream's failed attempts     <partition base>retry:<stream id>
    KEYS[3] the stream's events              <partition base>e:<stream id>
                                             (a list, or a hash when stored by an earlier version)

  Output:
    {metadata or nil, failed attempts or nil, event, event, ...}
]]
local read = { redis.call('GET', KEYS[1]), redis.call('GET', KEYS[2]) }
local events
if redis.call('TYPE', KEYS[3]).ok == 'hash' then
  events = redis.call('HVALS', KEYS[3])
else
  events = redis.call('LRANGE', KEYS[3], 0, -1)
end
for _, event in ipairs(events) do
  read[#read + 1] = event
end
return read
