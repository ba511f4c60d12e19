-- Raises a stream's last sequence number to one a node saw (docs/SCALING.md, "Redis
-- restarted with older data"): Redis came back from a snapshot older than what it
-- acknowledged, with the same epoch but a lower s, so its next publishes would reuse
-- numbers nodes already delivered (and drop them as duplicates).
--
-- KEYS[1]  meta hash: e = the stream's epoch, s = its last sequence number
-- ARGV[1]  the epoch the node's number belongs to
-- ARGV[2]  the last sequence number the node saw in that epoch
--
-- Returns 1 when s was raised; 0 when the epoch differs (Redis numbers the stream anew)
-- or s is already at or past ARGV[2].

if redis.call('HGET', KEYS[1], 'e') ~= ARGV[1] then
  return 0
end
local s = tonumber(redis.call('HGET', KEYS[1], 's') or '0')
if s >= tonumber(ARGV[2]) then
  return 0
end
redis.call('HSET', KEYS[1], 's', ARGV[2])
return 1
