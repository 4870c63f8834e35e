--[[
  A failed run whose pipeline allows another attempt: the stream moves to retry_fire
  (fired) or retry_expire (expired) at the next serial, so the failed run's record (and any
  redelivered copy) is stale from then on; its failed attempts are written and it waits in
  the partition's due retries until the back-off has passed, when a worker produces its
  record again. The worker's claim and any pending emission go: nothing runs it meanwhile.
  The caller decided the move from the metadata text it read; the move happens only while
  the stream still holds exactly that text.

  Input:
    KEYS[1] the stream's metadata            <partition base>s:<stream id>
    KEYS[2] the stream's claim               <partition base>claim:<stream id>
    KEYS[3] the stream's failed attempts     <partition base>retry:<stream id>
    KEYS[4] the partition's due retries      <partition base>t:retry
    KEYS[5] the partition's pending emissions <partition base>pending

    ARGV[1] the metadata text the caller read
    ARGV[2] the next metadata text (retry_fire or retry_expire, the next serial)
    ARGV[3] the failed attempts text
    ARGV[4] when the next attempt is due, in epoch microseconds
    ARGV[5] the stream id

  Output:
     1  scheduled
    -1  the metadata changed since the caller read it; nothing written
]]
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return -1
end
redis.call('SET', KEYS[1], ARGV[2])
redis.call('SET', KEYS[3], ARGV[3])
redis.call('ZADD', KEYS[4], ARGV[4], ARGV[5])
redis.call('DEL', KEYS[2])
redis.call('SREM', KEYS[5], ARGV[5])
return 1
