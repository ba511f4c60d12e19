-- Connections are in a channel (docs/SCALING.md, "Presence"); also their refresh.
-- KEYS[1] pres hash: connection -> "node:user" (the node that holds it now)
-- KEYS[2] pres:exp zset: connection -> expiry (ms, Redis's clock)
-- KEYS[3] users hash: user -> connections in the channel, over every node
-- ARGV[1] time to live, ms   ARGV[2] time to live of the three keys, seconds
-- ARGV[3] this node's id (no ':')
-- ARGV[4], ARGV[5], ...: connection id, user, connection id, user, ...
-- Returns, for the last pair, the user's count after this join when the connection is
-- new here (1 = the user's first connection in the channel: `joined`), or 0 when it
-- was there already (a refresh).
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local expiry = now + tonumber(ARGV[1])
local count = 0
for i = 4, #ARGV, 2 do
  local conn, user = ARGV[i], ARGV[i + 1]
  count = 0
  -- A connection another node held is taken over (its owner changes, its count not).
  if redis.call('HSET', KEYS[1], conn, ARGV[3] .. ':' .. user) == 1 then
    count = redis.call('HINCRBY', KEYS[3], user, 1)
  end
  redis.call('ZADD', KEYS[2], expiry, conn)
end
for i = 1, 3 do
  redis.call('EXPIRE', KEYS[i], ARGV[2])
end
return count
