-- Atomic publish of one message to one channel (docs/SCALING.md, "Publish").
-- Every key is in the channel's hash slot ({channel}), so this also runs on a Cluster.
--
-- KEYS[1]  meta hash: e = the channel's epoch, s = its last sequence number
-- KEYS[2]  history list, newest first: "seq:epoch:payload" frames
-- KEYS[3]  dedup key of this message id: the sequence number it was given
-- ARGV[1]  payload (the message as JSON)
-- ARGV[2]  history size: frames kept (0 = none)
-- ARGV[3]  dedup time to live, seconds: how long a retry is recognised
-- ARGV[4]  pub/sub channel the frame is published on
-- ARGV[5]  epoch to start the channel with if it has none (random, from the caller)
-- ARGV[6]  time to live of meta and history, seconds, refreshed by each publish
-- ARGV[7]  optional: the channel's new config (JSON), kept in the meta as c ('' = none)
-- ARGV[8]  optional: the floor, "seq:epoch" of the last frame the caller saw on this
--          stream ('' = none). If the meta has that epoch and a lower s, s is raised to
--          seq first: Redis restarted with older data than it acknowledged keeps its
--          epoch but lost numbers nodes already delivered, which must not be reused.
-- KEYS[4]  optional, a user's stream: the user's state hash
-- ARGV[9..] field, value pairs set in KEYS[4] (a state change), which then lives as
--          long as meta (ARGV[6]); set here so that Redis orders the hash writes as it
--          orders the stream's frames
--
-- Returns {seq, epoch, duplicate}: duplicate = 1 when this message id was already
-- published in this epoch; then nothing is written or published again.

local epoch = redis.call('HGET', KEYS[1], 'e')
local seen = redis.call('GET', KEYS[3])
if seen and epoch then
  return {tonumber(seen), epoch, 1}
end
if not epoch then
  -- A new channel, or one whose state Redis lost: a new epoch, numbering from 1.
  epoch = ARGV[5]
  redis.call('HSET', KEYS[1], 'e', epoch, 's', 0)
end
if ARGV[7] and ARGV[7] ~= '' then
  redis.call('HSET', KEYS[1], 'c', ARGV[7])
end
if ARGV[8] and ARGV[8] ~= '' then
  local colon = string.find(ARGV[8], ':', 1, true) or 0
  local floor = tonumber(string.sub(ARGV[8], 1, colon - 1)) or 0
  local s = tonumber(redis.call('HGET', KEYS[1], 's') or '0')
  if string.sub(ARGV[8], colon + 1) == epoch and floor > s then
    redis.call('HSET', KEYS[1], 's', floor)
  end
end
if KEYS[4] then
  for i = 9, #ARGV - 1, 2 do
    redis.call('HSET', KEYS[4], ARGV[i], ARGV[i + 1])
  end
  redis.call('EXPIRE', KEYS[4], ARGV[6])
end
local seq = redis.call('HINCRBY', KEYS[1], 's', 1)
local frame = seq .. ':' .. epoch .. ':' .. ARGV[1]
local size = tonumber(ARGV[2])
if size > 0 then
  redis.call('LPUSH', KEYS[2], frame)
  redis.call('LTRIM', KEYS[2], 0, size - 1)
else
  redis.call('DEL', KEYS[2])
end
redis.call('SET', KEYS[3], seq, 'EX', ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[6])
if size > 0 then
  redis.call('EXPIRE', KEYS[2], ARGV[6])
end
redis.call('PUBLISH', ARGV[4], frame)
return {seq, epoch, 0}
