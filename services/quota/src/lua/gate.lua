-- Gate: what a replica may refuse without calling again, read after reclaiming expired holds.
-- ARGV: now_ms, max_ids. Returns {'NONE'} when the day is missing or closed, no session is
-- sold out, or more than max_ids holds are recorded; otherwise {'GATE', sold_pagi,
-- sold_siang, next_expiry_ms, hold id...}: '1' for a session with no seat left, the
-- earliest expiry of a live hold ('' when none is live), and every recorded hold id, so a
-- retry of any of them is still answered by the hold script.
local d = redis.call('HMGET', day, 'epoch', 'open')
if not d[1] or d[2] ~= '1' then return {'NONE'} end
reclaim(ARGV[1])
local v = redis.call('HMGET', day, 'cap:PAGI', 'used:PAGI', 'cap:SIANG', 'used:SIANG')
local pagi = tonumber(v[2]) >= tonumber(v[1])
local siang = tonumber(v[4]) >= tonumber(v[3])
if not (pagi or siang) or redis.call('HLEN', holds) > tonumber(ARGV[2]) then
  return {'NONE'}
end
local first = redis.call('ZRANGE', expiry, 0, 0, 'WITHSCORES')
local answer = {'GATE', pagi and '1' or '0', siang and '1' or '0', first[2] or ''}
for _, id in ipairs(redis.call('HKEYS', holds)) do answer[#answer + 1] = id end
return answer
