-- Init: build the day's counters from the ledger, unless another replica already did.
-- ARGV: epoch, open, reason, note, special, cap_pagi, cap_siang, conf_pagi, conf_siang,
--       lifetime_ms (from the caller's now), then per live or committed hold: id, record, expires_ms.
-- Returns 1 when built, 0 when the counters already existed (nothing is touched then).
if redis.call('EXISTS', day) == 1 then return 0 end
redis.call('DEL', holds, expiry)
local used = { PAGI = tonumber(ARGV[8]), SIANG = tonumber(ARGV[9]) }
for i = 11, #ARGV, 3 do
  local id, rec, exp = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  redis.call('HSET', holds, id, rec)
  local s, seats, _, _, st = parse(rec)
  if st == 'H' then
    used[s] = used[s] + seats
    redis.call('ZADD', expiry, exp, id)
  end
end
redis.call('HSET', day, 'epoch', ARGV[1], 'open', ARGV[2], 'reason', ARGV[3], 'note', ARGV[4],
  'special', ARGV[5], 'cap:PAGI', ARGV[6], 'cap:SIANG', ARGV[7], 'conf:PAGI', ARGV[8],
  'conf:SIANG', ARGV[9], 'used:PAGI', used.PAGI, 'used:SIANG', used.SIANG)
redis.call('PEXPIRE', day, ARGV[10])
if redis.call('EXISTS', holds) == 1 then redis.call('PEXPIRE', holds, ARGV[10]) end
if redis.call('EXISTS', expiry) == 1 then redis.call('PEXPIRE', expiry, ARGV[10]) end
return 1
