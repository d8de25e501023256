-- Commit: a live hold's seats become confirmed seats (used is unchanged).
-- ARGV: hold_id, session, seats, now_ms. The caller knows the hold was admitted and has not
-- expired (from the ledger, or from its own admission), so a hold these counters do not
-- know is adopted as confirmed rather than lost; if the ledger then refuses the commit (the
-- hold was released meanwhile), the caller gives the seats back.
-- Returns {'MISSING'}, {'OK'}, {'EXPIRED'} or {'RELEASED'}.
if redis.call('EXISTS', day) == 0 then return {'MISSING'} end
local id, now = ARGV[1], ARGV[4]
reclaim(now)
local rec = redis.call('HGET', holds, id)
if not rec then
  local s, seats = ARGV[2], tonumber(ARGV[3])
  redis.call('HINCRBY', day, 'used:' .. s, seats)
  redis.call('HINCRBY', day, 'conf:' .. s, seats)
  redis.call('HSET', holds, id, record(s, seats, '0', '0', 'C'))
  expire_with_day(holds)
  return {'OK'}
end
local s, seats, exp, rem, st = parse(rec)
if st == 'H' then
  redis.call('HSET', holds, id, record(s, seats, exp, rem, 'C'))
  redis.call('ZREM', expiry, id)
  redis.call('HINCRBY', day, 'conf:' .. s, seats)
  return {'OK'}
elseif st == 'C' then
  return {'OK'}
elseif st == 'X' then
  return {'EXPIRED'}
end
return {'RELEASED'}
