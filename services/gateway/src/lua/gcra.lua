-- One shared rate limit (GCRA, the generic cell rate algorithm), for every gateway replica.
--
-- KEYS[1]  the limited thing, e.g. antrean:limit:verifications:net:203.0.113.0/24
-- ARGV[1]  emission interval T in ms: the period divided by the number allowed in it
-- ARGV[2]  burst: how many may come at once (at least 1)
--
-- The key holds the theoretical arrival time (TAT) in ms of Redis's clock, shared by all
-- replicas. A request is allowed when now >= TAT - (burst - 1) * T; it then moves TAT to
-- max(TAT, now) + T. So at most `burst` pass at once, then one per T. The key lives only
-- while it still limits (until TAT), so idle clients cost nothing.
--
-- Answers 0 when allowed, else the ms to wait before one more would be.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local interval = tonumber(ARGV[1])
local tolerance = (tonumber(ARGV[2]) - 1) * interval
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then
  tat = now
end
local allow_at = tat - tolerance
if now < allow_at then
  return allow_at - now
end
local new_tat = tat + interval
redis.call('SET', KEYS[1], new_tat, 'PX', new_tat - now)
return 0
