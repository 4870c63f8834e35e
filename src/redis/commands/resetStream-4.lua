--[[
  An operator's retry of a failed stream (error → retry_fire, expire_error → retry_expire):
  writes its next metadata, marks it pending so the partition's matcher re-emits it, and
  drops its tombstone and its failed attempts (the run it asks for starts a fresh count).
  The caller decided the move from the metadata text it read; the move happens only while
  the stream still holds exactly that text.

  Input:
    KEYS[1] the stream's metadata            <partition base>s:<stream id>
    KEYS[2] the partition's pending emissions <partition base>pending
    KEYS[3] the stream's tombstone           <partition base>done:<stream id>
    KEYS[4] the stream's failed attempts     <partition base>retry:<stream id>

    ARGV[1] the metadata text the caller read
    ARGV[2] the next metadata text
    ARGV[3] the stream id

  Output:
     1  reset
    -1  the metadata changed since the caller read it; nothing written
]]
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return -1
end
redis.call('SET', KEYS[1], ARGV[2])
redis.call('SADD', KEYS[2], ARGV[3])
redis.call('DEL', KEYS[3], KEYS[4])
return 1
