--[[
  Moves a stream out of firing, expiring or retry_* once its pipeline ran: writes its next
  metadata (or purges it), leaves a tombstone, drops the worker's claim and the pending
  emission, and settles its retry bookkeeping: a stream that completed (or is purged) loses
  it, one whose last attempt failed keeps what failed; neither waits for a retry any more.
  The caller decided the move from the metadata text it read; the move happens only while
  the stream still holds exactly that text.

  Input:
    KEYS[1] the stream's metadata            <partition base>s:<stream id>
    KEYS[2] the stream's events              <partition base>e:<stream id>
    KEYS[3] the partition's stream ids       <partition base>ids
    KEYS[4] the stream's tombstone           <partition base>done:<stream id>
    KEYS[5] the stream's claim               <partition base>claim:<stream id>
    KEYS[6] the partition's pending emissions <partition base>pending
    KEYS[7] the stream's failed attempts     <partition base>retry:<stream id>
    KEYS[8] the partition's due retries      <partition base>t:retry

    ARGV[1] the metadata text the caller read
    ARGV[2] the next metadata text; empty to purge the stream (metadata, events, id)
    ARGV[3] the tombstone text
    ARGV[4] the tombstone's lifetime, in seconds
    ARGV[5] the stream id
    ARGV[6] the failed attempts to keep (a stream ending in error); empty to drop them

  Output:
     1  finished
    -1  the metadata changed since the caller read it; nothing written
]]
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return -1
end
if ARGV[2] == '' then
  redis.call('DEL', KEYS[1], KEYS[2])
  redis.call('SREM', KEYS[3], ARGV[5])
else
  redis.call('SET', KEYS[1], ARGV[2])
end
redis.call('SET', KEYS[4], ARGV[3], 'EX', ARGV[4])
redis.call('DEL', KEYS[5])
redis.call('SREM', KEYS[6], ARGV[5])
if ARGV[6] == '' or ARGV[2] == '' then
  redis.call('DEL', KEYS[7])
else
  redis.call('SET', KEYS[7], ARGV[6])
end
redis.call('ZREM', KEYS[8], ARGV[5])
return 1
