--[[
  Reads a stream's stored events, of either layout: a list of values (one per event,
  appended) or, for a stream stored by an earlier version, a hash of message_id → value.

  Input:
    KEYS[1] the stream's events              <partition base>e:<stream id>

  Output:
    {event, event, ...}  each event's stored value; empty when the stream has none
]]
if redis.call('TYPE', KEYS[1]).ok == 'hash' then
  return redis.call('HVALS', KEYS[1])
end
return redis.call('LRANGE', KEYS[1], 0, -1)
