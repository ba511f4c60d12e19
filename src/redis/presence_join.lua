-- A connection is in a channel (docs/SCALING.md, "Presence"); also its refresh.
-- KEYS[1] pres hash: connection -> user
-- KEYS[2] pres:exp zset: connection -> expiry (ms, Redis's clock)
-- KEYS[3] users hash: user -> connections in the channel, over every node
-- ARGV[1] connection id   ARGV[2] user   ARGV[3] time to live, ms
-- ARGV[4] time to live of the three keys, seconds
-- Returns the user's count after this join when the connection is new here (1 = the
-- user's first connection in the channel: `joined`), or 0 for a refresh.
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local new = redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[3]), ARGV[1])
local count = 0
if new == 1 then
  count = redis.call('HINCRBY', KEYS[3], ARGV[2], 1)
end
for i = 1, 3 do
  redis.call('EXPIRE', KEYS[i], ARGV[4])
end
return count
