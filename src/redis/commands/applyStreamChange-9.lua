--[[
  The matcher applies one stream change of a stream key's batch: the stream's next metadata,
  its new events, its timers and its id, the key's active pointer (now naming this stream)
  and the events' message ids in the key's seen ids. The caller decided the change from what
  it read; it is applied only while the partition still has the caller's owner epoch, the
  key's active pointer and the metadata of the stream it names are still what the caller
  read, and none of the events has been seen meanwhile (a compare-and-set: a cluster client
  cannot keep a WATCH and its MULTI on one node across a slot move).

  A batch that opens several streams is applied as one call per stream, in order, each
  expecting the pointer and metadata the call before it wrote: a lost race stops the chain
  and leaves a prefix of the batch applied, which the caller reads again to go on.

  Input:
    KEYS[1] the partition's owner epoch      <partition base>epoch
    KEYS[2] the stream key's active pointer  <partition base>active:<stream key>
    KEYS[3] the stream key's seen ids        <partition base>seen:<stream key>
    KEYS[4] the partition's stream ids       <partition base>ids
    KEYS[5] the partition's expire timers    <partition base>t:expire
    KEYS[6] the partition's fire timers      <partition base>t:fire
    KEYS[7] the stream's metadata            <partition base>s:<stream id>
    KEYS[8] the stream's events              <partition base>e:<stream id>
                                             (a list; a hash when stored by an earlier version)
    KEYS[9] the metadata of the stream the pointer names as read (KEYS[7] when the same)

    ARGV[1] the owner epoch the caller holds
    ARGV[2] the active pointer as read; empty when there was none
    ARGV[3] the metadata text of the stream ARGV[2] names, as read; empty when none
    ARGV[4] the stream's next metadata text
    ARGV[5] the stream id
    ARGV[6] 1 when the change opens the stream (its id joins the partition's), else 0
    ARGV[7] the stream's expire time, in epoch microseconds
    ARGV[8] the stream's fire time, in epoch microseconds; empty when it has none
    ARGV[9] when the events were seen, in epoch milliseconds
    ARGV[10] seen ids scored below this (epoch milliseconds) are forgotten
    ARGV[11] how long the key's seen ids are kept, in seconds
    ARGV[12], ARGV[13], ... the new events: message_id, stored value, message_id, stored value, ...

  Output:
     1  applied
    -1  the pointer, the metadata or the seen ids changed since the caller read them; nothing written
    -2  the owner epoch moved on (another instance owns the partition); nothing written
]]
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return -2
end
if (redis.call('GET', KEYS[2]) or '') ~= ARGV[2] then
  return -1
end
if ARGV[2] ~= '' and (redis.call('GET', KEYS[9]) or '') ~= ARGV[3] then
  return -1
end
local FIRST_EVENT = 12
for i = FIRST_EVENT, #ARGV, 2 do
  if redis.call('ZSCORE', KEYS[3], ARGV[i]) then
    return -1
  end
end

-- RPUSH, HSET and ZADD take their arguments a chunk at a time: unpack is bounded by Lua's C stack.
local CHUNK = 1000
local function inChunks(command, key, pairs)
  for from = 1, #pairs, CHUNK do
    redis.call(command, key, unpack(pairs, from, math.min(from + CHUNK - 1, #pairs)))
  end
end

local fields, values, seen = {}, {}, {}
for i = FIRST_EVENT, #ARGV, 2 do
  fields[#fields + 1] = ARGV[i]
  fields[#fields + 1] = ARGV[i + 1]
  values[#values + 1] = ARGV[i + 1]
  seen[#seen + 1] = ARGV[9]
  seen[#seen + 1] = ARGV[i]
end
redis.call('SET', KEYS[7], ARGV[4])
if ARGV[6] == '1' then
  redis.call('SADD', KEYS[4], ARGV[5])
end
-- A list keeps a value in a few bytes more than its own; a hash of values over
-- hash-max-listpack-value (64 bytes) costs a table entry and two allocations per field. The
-- seen ids, checked above, keep duplicates out. A stream an earlier version opened as a hash
-- stays one.
if redis.call('TYPE', KEYS[8]).ok == 'hash' then
  inChunks('HSET', KEYS[8], fields)
else
  inChunks('RPUSH', KEYS[8], values)
end
redis.call('ZADD', KEYS[5], ARGV[7], ARGV[5])
if ARGV[8] ~= '' then
  redis.call('ZADD', KEYS[6], ARGV[8], ARGV[5])
end
redis.call('SET', KEYS[2], ARGV[5])
-- Each id is remembered for the retention from when it was seen, so a long-lived busy key
-- keeps a bounded window, not every id it ever took.
inChunks('ZADD', KEYS[3], seen)
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', ARGV[10])
redis.call('EXPIRE', KEYS[3], ARGV[11])
return 1
