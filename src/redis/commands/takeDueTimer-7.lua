--[[
  The matcher takes a stream whose fire or expire time is due: the stream moves to firing or
  expiring, leaves its timers, its key's active pointer (only if it still names this stream:
  otherwise an expiring old stream would delete its successor's pointer) and is pending
  emission; its events are returned, so the stream record matches the state it moved. A stale
  timer (the stream left `active`, or its time moved) only drops the entries the caller names.
  The caller decided the move from the metadata text it read; it happens only while the
  partition still has the caller's owner epoch and the stream still holds exactly that text.

  Input:
    KEYS[1] the partition's owner epoch      <partition base>epoch
    KEYS[2] the stream's metadata            <partition base>s:<stream id>
    KEYS[3] the stream's events              <partition base>e:<stream id>
                                             (a list, or a hash when stored by an earlier version)
    KEYS[4] the partition's fire timers      <partition base>t:fire
    KEYS[5] the partition's expire timers    <partition base>t:expire
    KEYS[6] the partition's pending emissions <partition base>pending
    KEYS[7] the stream key's active pointer  <partition base>active:<stream key>

    ARGV[1] the owner epoch the caller holds
    ARGV[2] the metadata text the caller read; empty when the stream was gone
    ARGV[3] the next metadata text (firing or expiring); empty for a stale timer
    ARGV[4] 1 to drop the stream from the fire timers, else 0
    ARGV[5] 1 to drop the stream from the expire timers, else 0
    ARGV[6] the stream id

  Output:
    {1, event, event, ...}  taken, with the stored value of each of its events
    {0}   a stale timer: the entries named were dropped
    {-1}  the metadata changed since the caller read it; nothing written
    {-2}  the owner epoch moved on (another instance owns the partition); nothing written
]]
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return { -2 }
end
if (redis.call('GET', KEYS[2]) or '') ~= ARGV[2] then
  return { -1 }
end
if ARGV[4] == '1' then
  redis.call('ZREM', KEYS[4], ARGV[6])
end
if ARGV[5] == '1' then
  redis.call('ZREM', KEYS[5], ARGV[6])
end
if ARGV[3] == '' then
  return { 0 }
end
redis.call('SET', KEYS[2], ARGV[3])
if redis.call('GET', KEYS[7]) == ARGV[6] then
  redis.call('DEL', KEYS[7])
end
redis.call('SADD', KEYS[6], ARGV[6])
local taken
if redis.call('TYPE', KEYS[3]).ok == 'hash' then
  taken = redis.call('HVALS', KEYS[3])
else
  taken = redis.call('LRANGE', KEYS[3], 0, -1)
end
table.insert(taken, 1, 1)
return taken
