-- Shared by every quota script. All keys of one office+date share a hash tag
-- ("{BOGOR:2026-12-01}"), so each script touches a single Redis Cluster slot.
--   KEYS[1] day:    hash  open, reason, note, special, epoch,
--                         cap:<S>  capacity of session S,
--                         conf:<S> confirmed seats,
--                         used:<S> confirmed seats + seats of live holds
--   KEYS[2] holds:  hash  hold id -> "SESSION|seats|expires_ms|remaining_after|state"
--                         state H held, C committed, R released, X expired
--   KEYS[3] expiry: zset  hold id -> expires_ms, for holds in state H only
-- Time comes from the caller (ARGV), so every replica and every test agrees on "now".
local day, holds, expiry = KEYS[1], KEYS[2], KEYS[3]

local function parse(rec)
  local s, seats, exp, rem, st = string.match(rec, '^(%u+)|(%d+)|(%d+)|(%d+)|(%u)$')
  return s, tonumber(seats), exp, rem, st
end

local function record(s, seats, exp, rem, st)
  return s .. '|' .. seats .. '|' .. exp .. '|' .. rem .. '|' .. st
end

-- Gives back the seats of every hold whose expiry has passed. Every script runs this first,
-- so expired seats return without keyspace events or a background job, atomically with the
-- decision that follows.
-- Returns the seats given back per session.
local function reclaim(now)
  local freed = {}
  local due = redis.call('ZRANGEBYSCORE', expiry, '-inf', now)
  for _, id in ipairs(due) do
    local rec = redis.call('HGET', holds, id)
    if rec then
      local s, seats, exp, rem, st = parse(rec)
      if st == 'H' then
        redis.call('HINCRBY', day, 'used:' .. s, -seats)
        redis.call('HSET', holds, id, record(s, seats, exp, rem, 'X'))
        freed[s] = (freed[s] or 0) + seats
      end
    end
    redis.call('ZREM', expiry, id)
  end
  return freed
end

-- Keys created after the day was built expire with it.
local function expire_with_day(key)
  if redis.call('PTTL', key) < 0 then
    local ttl = redis.call('PTTL', day)
    if ttl > 0 then redis.call('PEXPIRE', key, ttl) end
  end
end
