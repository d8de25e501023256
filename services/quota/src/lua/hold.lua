-- Hold: for each request in turn, take `seats` of session S all-or-nothing until
-- `expires_ms`. One call decides a whole batch of requests for the same office+date, in
-- order, each exactly as if it had run alone.
-- ARGV: now_ms, then per request: hold_id, session, seats, expires_ms
-- Returns {'MISSING'} (counters must be rebuilt from the ledger first), or one answer per
-- request: {'CLOSED'}, {'EXISTS', record, epoch} (a retry: the caller answers from the
-- record), {'FULL', remaining}, or {'OK', remaining, epoch, capacity}.
-- The whole day in one read: a day without an epoch is missing.
local d = redis.call('HMGET', day, 'epoch', 'open', 'cap:PAGI', 'used:PAGI', 'cap:SIANG',
  'used:SIANG')
if not d[1] then return {'MISSING'} end
local epoch, open = d[1], d[2] == '1'
-- Each session's capacity and seats in use, kept current here as the batch takes seats
-- (this script is the only writer while it runs), after the reclaim gave back the seats of
-- expired holds.
local freed = reclaim(ARGV[1])
local caps = { PAGI = tonumber(d[3]), SIANG = tonumber(d[5]) }
local useds = {
  PAGI = tonumber(d[4]) - (freed.PAGI or 0),
  SIANG = tonumber(d[6]) - (freed.SIANG or 0),
}
local answers = {}
local wrote = false
-- Every request's existing record in one read; a hold this call writes is answered from
-- `taken` when its id comes again in the same batch.
local ids = {}
for i = 2, #ARGV, 4 do ids[#ids + 1] = ARGV[i] end
local found = redis.call('HMGET', holds, unpack(ids))
local taken, fulls = {}, {}
for i = 2, #ARGV, 4 do
  local id, s, seats, exp = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2]), ARGV[i + 3]
  local rec = taken[id] or found[(i + 2) / 4]
  if rec then
    answers[#answers + 1] = {'EXISTS', rec, epoch}
  elseif not open then
    answers[#answers + 1] = {'CLOSED'}
  else
    local cap, used = caps[s], useds[s]
    if used + seats > cap then
      local left = cap - used
      if left < 0 then left = 0 end
      -- A crowd's refusals mostly share one answer: build it once per seats left.
      local full = fulls[left]
      if not full then
        full = {'FULL', tostring(left)}
        fulls[left] = full
      end
      answers[#answers + 1] = full
    else
      redis.call('HINCRBY', day, 'used:' .. s, seats)
      useds[s] = used + seats
      local left = cap - used - seats
      local rec = record(s, seats, exp, left, 'H')
      redis.call('HSET', holds, id, rec)
      taken[id] = rec
      redis.call('ZADD', expiry, exp, id)
      wrote = true
      answers[#answers + 1] = {'OK', tostring(left), epoch, tostring(cap)}
    end
  end
end
if wrote then
  expire_with_day(holds)
  expire_with_day(expiry)
end
return answers
