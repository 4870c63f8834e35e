--[[
  Drops a stream key's active pointer only if it still names the stream leaving `active`:
  otherwise an expiring old stream would delete its successor's pointer. Queued inside the
  matcher's MULTI, so the comparison is atomic with the rest of the transition.

  Input:
    KEYS[1] the stream key's active pointer  <partition base>active:<stream key>

    ARGV[1] the id of the stream leaving `active`

  Output:
    1  deleted
    0  the pointer is gone or names another stream; nothing written
]]
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
