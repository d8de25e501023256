-- Hold: take `seats` of session S all-or-nothing until `expires_ms`.
-- ARGV: hold_id, session, seats, expires_ms, now_ms
-- Returns {'MISSING'} (counters must be rebuilt from the ledger first), {'CLOSED'},
-- {'EXISTS', record, epoch} (a retry: the caller answers from the record),
-- {'FULL', remaining}, or {'OK', remaining, epoch, capacity}.
if redis.call('EXISTS', day) == 0 then return {'MISSING'} end
local id, s, seats, exp, now = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4], ARGV[5]
reclaim(now)
local rec = redis.call('HGET', holds, id)
if rec then return {'EXISTS', rec, redis.call('HGET', day, 'epoch')} end
if redis.call('HGET', day, 'open') ~= '1' then return {'CLOSED'} end
local cap = tonumber(redis.call('HGET', day, 'cap:' .. s))
local used = tonumber(redis.call('HGET', day, 'used:' .. s))
if used + seats > cap then
  local left = cap - used
  if left < 0 then left = 0 end
  return {'FULL', tostring(left)}
end
redis.call('HINCRBY', day, 'used:' .. s, seats)
local left = cap - used - seats
redis.call('HSET', holds, id, record(s, seats, exp, left, 'H'))
redis.call('ZADD', expiry, exp, id)
expire_with_day(holds)
expire_with_day(expiry)
return {'OK', tostring(left), redis.call('HGET', day, 'epoch'), tostring(cap)}
