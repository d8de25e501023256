-- Release: give back the seats of a held or committed hold. Idempotent.
-- ARGV: hold_id, now_ms. Returns {'MISSING'}, {'OK'} or {'NOOP'}.
if redis.call('EXISTS', day) == 0 then return {'MISSING'} end
local id, now = ARGV[1], ARGV[2]
reclaim(now)
local rec = redis.call('HGET', holds, id)
if not rec then return {'NOOP'} end
local s, seats, exp, rem, st = parse(rec)
if st == 'H' then
  redis.call('HINCRBY', day, 'used:' .. s, -seats)
  redis.call('ZREM', expiry, id)
elseif st == 'C' then
  redis.call('HINCRBY', day, 'used:' .. s, -seats)
  redis.call('HINCRBY', day, 'conf:' .. s, -seats)
else
  return {'NOOP'}
end
redis.call('HSET', holds, id, record(s, seats, exp, rem, 'R'))
return {'OK'}
