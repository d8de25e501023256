-- Read: the day's state after reclaiming expired holds.
-- ARGV: now_ms. Returns {'MISSING'} or {'OK', open, reason, note, special, cap:PAGI,
-- cap:SIANG, used:PAGI, used:SIANG, conf:PAGI, conf:SIANG, epoch}.
if redis.call('EXISTS', day) == 0 then return {'MISSING'} end
reclaim(ARGV[1])
local v = redis.call('HMGET', day, 'open', 'reason', 'note', 'special', 'cap:PAGI',
  'cap:SIANG', 'used:PAGI', 'used:SIANG', 'conf:PAGI', 'conf:SIANG', 'epoch')
table.insert(v, 1, 'OK')
return v
