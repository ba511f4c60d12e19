-- A connection left a channel, or expired (docs/SCALING.md, "Presence").
-- KEYS[1] pres hash (connection -> "node:user"), KEYS[2] pres:exp zset, KEYS[3] users
-- hash (as presence_join.lua)
-- ARGV[1] 'leave' with ARGV[2] = connection id, ARGV[3] = this node's id: that
--         connection left (unless another node has taken it over since);
--         'sweep' with ARGV[2] = most connections to look at: every connection whose
--         expiry passed (its node stopped refreshing it) leaves.
-- Returns the users whose last connection in the channel left (`parted`).
local gone
if ARGV[1] == 'leave' then
  local held = redis.call('HGET', KEYS[1], ARGV[2])
  if not held or string.sub(held, 1, #ARGV[3] + 1) ~= ARGV[3] .. ':' then
    return {}
  end
  gone = {ARGV[2]}
else
  local t = redis.call('TIME')
  local now = t[1] * 1000 + math.floor(t[2] / 1000)
  gone = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, tonumber(ARGV[2]))
end
local parted = {}
for _, conn in ipairs(gone) do
  local held = redis.call('HGET', KEYS[1], conn)
  redis.call('ZREM', KEYS[2], conn)
  if held then
    local user = string.sub(held, string.find(held, ':', 1, true) + 1)
    redis.call('HDEL', KEYS[1], conn)
    local n = redis.call('HINCRBY', KEYS[3], user, -1)
    if n <= 0 then
      redis.call('HDEL', KEYS[3], user)
      table.insert(parted, user)
    end
  end
end
return parted
