//! The Redis side of the quota: per office+date counters and holds, changed only by the Lua
//! scripts in `src/lua/` so every decision is atomic.
use crate::gates::{GATE_MAX_IDS, Gate, Gates, Verdict};
use crate::ledger::HoldState;
use antrean_platform::domain::SessionOfDay;
use chrono::NaiveDate;
use redis::{Script, Value};
use std::collections::HashMap;
use std::time::Duration;

/// Longest wait for one script call.
const CALL_TIMEOUT: Duration = Duration::from_secs(2);

const PRELUDE: &str = include_str!("lua/prelude.lua");

fn script(body: &str) -> Script {
    Script::new(&format!("{PRELUDE}\n{body}"))
}

/// One office and date: the unit of a Redis hash tag.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DayKey {
    pub office: String,
    pub date: NaiveDate,
}

/// A hold as Redis records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HoldRecord {
    pub session: SessionOfDay,
    pub seats: u32,
    pub expires_ms: i64,
    pub remaining_after: u32,
    pub state: HoldState,
}

impl HoldRecord {
    pub fn encode(&self) -> String {
        format!(
            "{}|{}|{}|{}|{}",
            self.session,
            self.seats,
            self.expires_ms,
            self.remaining_after,
            self.state.letter()
        )
    }

    pub fn decode(s: &str) -> Option<Self> {
        let mut it = s.split('|');
        let session = it.next()?.parse().ok()?;
        let seats = it.next()?.parse().ok()?;
        let expires_ms = it.next()?.parse().ok()?;
        let remaining_after = it.next()?.parse().ok()?;
        let state = HoldState::from_letter(it.next()?.chars().next()?)?;
        Some(Self {
            session,
            seats,
            expires_ms,
            remaining_after,
            state,
        })
    }
}

/// One hold request as the hold script takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HoldArgs {
    pub hold_id: String,
    pub session: SessionOfDay,
    pub seats: u32,
    pub expires_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HoldOutcome {
    /// The day has no counters: rebuild from the ledger, then retry.
    Missing,
    Closed,
    /// The hold id is known: a retry.
    Exists {
        record: HoldRecord,
        epoch: i64,
    },
    Full {
        remaining: u32,
    },
    Admitted {
        remaining: u32,
        epoch: i64,
        capacity: u32,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommitOutcome {
    Missing,
    Committed,
    Expired,
    Released,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReleaseOutcome {
    Missing,
    Released,
    Noop,
}

/// A day's counters as Redis has them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DayCounters {
    pub open: bool,
    pub reason: String,
    pub note: String,
    pub special: bool,
    /// Indexed by session: [PAGI, SIANG].
    pub capacity: [u32; 2],
    pub used: [u32; 2],
    pub confirmed: [u32; 2],
    pub epoch: i64,
}

impl DayCounters {
    pub fn remaining(&self, s: SessionOfDay) -> u32 {
        of(&self.capacity, s).saturating_sub(of(&self.used, s))
    }
    pub fn held(&self, s: SessionOfDay) -> u32 {
        of(&self.used, s).saturating_sub(of(&self.confirmed, s))
    }
}

/// A session's entry of a per-session pair.
pub fn of<T: Copy>(pair: &[T; 2], s: SessionOfDay) -> T {
    match s {
        SessionOfDay::Pagi => pair[0],
        SessionOfDay::Siang => pair[1],
    }
}

/// A session's entry of a per-session pair, to change.
pub fn of_mut<T>(pair: &mut [T; 2], s: SessionOfDay) -> &mut T {
    match s {
        SessionOfDay::Pagi => &mut pair[0],
        SessionOfDay::Siang => &mut pair[1],
    }
}

/// What the ledger says a day's counters must be.
#[derive(Debug, Clone)]
pub struct DayBuild {
    pub epoch: i64,
    pub open: bool,
    pub reason: String,
    pub note: String,
    pub special: bool,
    pub capacity: [u32; 2],
    pub confirmed: [u32; 2],
    /// Live held and committed holds.
    pub holds: Vec<(String, HoldRecord)>,
    /// How long the counters live from now (they are rebuilt from the ledger if needed later).
    pub lifetime_ms: i64,
}

/// A day's three keys; `{OFFICE:DATE}` is the hash tag they share.
pub fn day_keys(prefix: &str, day: &DayKey) -> [String; 3] {
    let tag = format!("{prefix}q:{{{}:{}}}", day.office, day.date);
    [
        format!("{tag}:day"),
        format!("{tag}:holds"),
        format!("{tag}:expiry"),
    ]
}

use antrean_platform::redis::RedisConn as Conn;

/// How long a day's counters, once read, answer further reads in this process (in the
/// clock's milliseconds). Writes through this process drop the day at once; another replica's
/// writes show after at most this long. Holds never use it: they run their own script.
pub const VIEW_TTL_MS: i64 = 250;

/// Recently read counters, for availability reads in a flash crowd.
#[derive(Default)]
struct Views {
    map: std::sync::Mutex<HashMap<DayKey, (i64, DayCounters)>>,
    /// Bumped by every write: a read that overlapped one does not keep what it read.
    writes: std::sync::atomic::AtomicU64,
}

impl Views {
    fn get(&self, day: &DayKey, now_ms: i64) -> Option<DayCounters> {
        let map = self
            .map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        map.get(day)
            .filter(|(at, _)| (0..VIEW_TTL_MS).contains(&(now_ms - at)))
            .map(|(_, c)| c.clone())
    }

    fn wrote(&self, day: &DayKey) {
        self.writes
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(day);
    }
}

#[derive(Clone)]
pub struct Counters {
    conn: Conn,
    views: std::sync::Arc<Views>,
    gates: std::sync::Arc<Gates>,
    prefix: String,
    hold: Script,
    gate: Script,
    commit: Script,
    release: Script,
    read: Script,
    init: Script,
    /// Holds waiting for the next script call; `None` in the task that makes those calls.
    holds: Option<tokio::sync::mpsc::UnboundedSender<PendingHold>>,
}

impl Counters {
    /// `url` names one Redis, or several cluster nodes separated by commas
    /// (`redis://10.0.0.1:6379,redis://10.0.0.2:6379,redis://10.0.0.3:6379`).
    pub async fn connect(url: &str, prefix: &str) -> anyhow::Result<Self> {
        antrean_platform::metrics::register_dependency("redis");
        let conn = Conn::connect(url).await?;
        let mut counters = Self {
            conn,
            views: std::sync::Arc::default(),
            gates: std::sync::Arc::default(),
            prefix: prefix.to_owned(),
            hold: script(include_str!("lua/hold.lua")),
            gate: script(include_str!("lua/gate.lua")),
            commit: script(include_str!("lua/commit.lua")),
            release: script(include_str!("lua/release.lua")),
            read: script(include_str!("lua/read.lua")),
            init: script(include_str!("lua/init.lua")),
            holds: None,
        };
        let (queue, pending) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(decide_holds(counters.clone(), pending));
        counters.holds = Some(queue);
        Ok(counters)
    }

    pub fn keys(&self, day: &DayKey) -> [String; 3] {
        day_keys(&self.prefix, day)
    }

    async fn run(
        &self,
        script: &Script,
        day: &DayKey,
        args: &[String],
    ) -> redis::RedisResult<Vec<Value>> {
        let mut inv = script.prepare_invoke();
        for k in self.keys(day) {
            inv.key(k);
        }
        for a in args {
            inv.arg(a);
        }
        let result = retrying(|| self.conn.invoke(&inv)).await;
        if !std::ptr::eq(script, &self.read) {
            self.views.wrote(day);
        }
        if ![&self.hold, &self.read, &self.gate]
            .into_iter()
            .any(|s| std::ptr::eq(script, s))
        {
            self.gates.changed(day);
        }
        result
    }

    /// True when this process knows, without a call, that the hold script would refuse
    /// `hold_id` for `session` of `day` now because the session has no seat left (see
    /// [`crate::gates`]).
    pub fn refuses(&self, day: &DayKey, session: SessionOfDay, hold_id: &str, now_ms: i64) -> bool {
        match self.gates.refuses(day, session, hold_id, now_ms) {
            Verdict::Script => false,
            Verdict::Refuse => true,
            Verdict::RefuseAndRead => {
                let (counters, day) = (self.clone(), day.clone());
                tokio::spawn(async move { counters.fetch_gate(&day, now_ms).await });
                true
            }
        }
    }

    /// Reads the sold-out gate of `day` unless one stands or is being read.
    async fn read_gate(&self, day: &DayKey, now_ms: i64) {
        if self.gates.begin_read(day, now_ms) {
            self.fetch_gate(day, now_ms).await;
        }
    }

    /// The gate read itself, once [`Gates`] began it.
    async fn fetch_gate(&self, day: &DayKey, now_ms: i64) {
        let args = [now_ms.to_string(), GATE_MAX_IDS.to_string()];
        let gate = match self.run(&self.gate, day, &args).await {
            Ok(v) => {
                let answer: Vec<String> = (0..v.len()).map(|i| text(&v, i)).collect();
                let gate = Gate::from_answer(answer, now_ms);
                if gate.is_some() {
                    metrics::counter!("quota_sold_out_gates_total").increment(1);
                }
                gate
            }
            Err(e) => {
                tracing::debug!(error = %e, "sold-out gate not read");
                None
            }
        };
        self.gates.read(day, now_ms, gate);
    }

    /// What a batch of this process's holds of `day` tells the gates: its admissions join a
    /// standing gate, and a refusal for want of any seat reads one.
    fn learn(&self, day: &DayKey, holds: &[HoldArgs], outcomes: &[HoldOutcome], now_ms: i64) {
        let mut sold_out = false;
        for (h, o) in holds.iter().zip(outcomes) {
            match o {
                HoldOutcome::Admitted { .. } => self.gates.admitted(day, &h.hold_id),
                HoldOutcome::Full { remaining: 0 } => sold_out = true,
                _ => {}
            }
        }
        if sold_out && self.gates.wanted(day, now_ms) {
            let (counters, day) = (self.clone(), day.clone());
            tokio::spawn(async move { counters.read_gate(&day, now_ms).await });
        }
    }

    /// Decides holds of one day in one script call, in the order given, each as if alone.
    pub async fn hold_all(
        &self,
        day: &DayKey,
        holds: &[HoldArgs],
        now_ms: i64,
    ) -> redis::RedisResult<Vec<HoldOutcome>> {
        let mut args = Vec::with_capacity(1 + 4 * holds.len());
        args.push(now_ms.to_string());
        for h in holds {
            args.extend([
                h.hold_id.clone(),
                h.session.to_string(),
                h.seats.to_string(),
                h.expires_ms.to_string(),
            ]);
        }
        let v = self.run(&self.hold, day, &args).await?;
        if tag(&v) == "MISSING" {
            return Ok(vec![HoldOutcome::Missing; holds.len()]);
        }
        if v.len() != holds.len() {
            return Err(bad("hold answers"));
        }
        v.iter()
            .map(|a| match a {
                Value::Array(a) => hold_outcome(a),
                _ => Err(bad("hold answer")),
            })
            .collect()
    }

    /// One hold in a script call of its own.
    pub async fn hold_alone(
        &self,
        day: &DayKey,
        hold: HoldArgs,
        now_ms: i64,
    ) -> redis::RedisResult<HoldOutcome> {
        let mut answers = self.hold_all(day, &[hold], now_ms).await?;
        answers.pop().ok_or_else(|| bad("hold answers"))
    }

    /// One hold, decided in the same script call as the holds other tasks of this process
    /// ask for at the same moment (see [`decide_holds`]).
    pub async fn hold(
        &self,
        day: &DayKey,
        hold: HoldArgs,
        now_ms: i64,
    ) -> redis::RedisResult<HoldOutcome> {
        let Some(queue) = &self.holds else {
            return self.hold_alone(day, hold, now_ms).await;
        };
        let (reply, answer) = tokio::sync::oneshot::channel();
        let pending = PendingHold {
            day: day.clone(),
            hold,
            now_ms,
            reply,
        };
        if queue.send(pending).is_err() {
            return Err(gone());
        }
        answer.await.unwrap_or_else(|_| Err(gone()))
    }

    pub async fn commit(
        &self,
        day: &DayKey,
        hold_id: &str,
        session: SessionOfDay,
        seats: u32,
        now_ms: i64,
    ) -> redis::RedisResult<CommitOutcome> {
        let v = self
            .run(
                &self.commit,
                day,
                &[
                    hold_id.to_owned(),
                    session.to_string(),
                    seats.to_string(),
                    now_ms.to_string(),
                ],
            )
            .await?;
        Ok(match tag(&v).as_str() {
            "MISSING" => CommitOutcome::Missing,
            "OK" => CommitOutcome::Committed,
            "EXPIRED" => CommitOutcome::Expired,
            "RELEASED" => CommitOutcome::Released,
            other => return Err(bad(other)),
        })
    }

    pub async fn release(
        &self,
        day: &DayKey,
        hold_id: &str,
        now_ms: i64,
    ) -> redis::RedisResult<ReleaseOutcome> {
        let v = self
            .run(
                &self.release,
                day,
                &[hold_id.to_owned(), now_ms.to_string()],
            )
            .await?;
        Ok(match tag(&v).as_str() {
            "MISSING" => ReleaseOutcome::Missing,
            "OK" => ReleaseOutcome::Released,
            "NOOP" => ReleaseOutcome::Noop,
            other => return Err(bad(other)),
        })
    }

    /// The day's counters, or `None` when they are missing.
    /// Served from this process's recent reads for up to [`VIEW_TTL_MS`].
    pub async fn read(&self, day: &DayKey, now_ms: i64) -> redis::RedisResult<Option<DayCounters>> {
        if let Some(c) = self.views.get(day, now_ms) {
            return Ok(Some(c));
        }
        let writes = self.views.writes.load(std::sync::atomic::Ordering::SeqCst);
        let read = self.read_redis(day, now_ms).await?;
        if let Some(c) = &read
            && self.views.writes.load(std::sync::atomic::Ordering::SeqCst) == writes
        {
            let mut map = self
                .views
                .map
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if map.len() > 10_000 {
                // Days long past: start afresh rather than grow without end.
                map.clear();
            }
            map.insert(day.clone(), (now_ms, c.clone()));
        }
        Ok(read)
    }

    async fn read_redis(
        &self,
        day: &DayKey,
        now_ms: i64,
    ) -> redis::RedisResult<Option<DayCounters>> {
        let v = self.run(&self.read, day, &[now_ms.to_string()]).await?;
        if tag(&v) == "MISSING" {
            return Ok(None);
        }
        Ok(Some(DayCounters {
            open: text(&v, 1) == "1",
            reason: text(&v, 2),
            note: text(&v, 3),
            special: text(&v, 4) == "1",
            capacity: [num(&v, 5) as u32, num(&v, 6) as u32],
            used: [num(&v, 7).max(0) as u32, num(&v, 8).max(0) as u32],
            confirmed: [num(&v, 9).max(0) as u32, num(&v, 10).max(0) as u32],
            epoch: num(&v, 11),
        }))
    }

    /// Builds the day's counters unless they exist. True when this call built them.
    pub async fn init(&self, day: &DayKey, b: &DayBuild) -> redis::RedisResult<bool> {
        let mut args = vec![
            b.epoch.to_string(),
            flag(b.open),
            b.reason.clone(),
            b.note.clone(),
            flag(b.special),
            b.capacity[0].to_string(),
            b.capacity[1].to_string(),
            b.confirmed[0].to_string(),
            b.confirmed[1].to_string(),
            b.lifetime_ms.to_string(),
        ];
        for (id, rec) in &b.holds {
            args.push(id.clone());
            args.push(rec.encode());
            args.push(rec.expires_ms.to_string());
        }
        let mut inv = self.init.prepare_invoke();
        for k in self.keys(day) {
            inv.key(k);
        }
        for a in &args {
            inv.arg(a);
        }
        let built: redis::RedisResult<i64> = retrying(|| self.conn.invoke(&inv)).await;
        self.views.wrote(day);
        self.gates.changed(day);
        Ok(built? == 1)
    }

    /// Drops the day's counters; the next request rebuilds them from the ledger.
    pub async fn invalidate(&self, day: &DayKey) -> redis::RedisResult<()> {
        let keys = self.keys(day);
        let result = self.conn.query(redis::cmd("DEL").arg(&keys[..])).await;
        self.views.wrote(day);
        self.gates.changed(day);
        result
    }
}

/// Most script calls for holds in flight at once. While they run, further holds wait in the
/// queue and go together in the next call: under a crowd one call decides many holds, so
/// Redis runs the script (and the reclaim of expired holds) once per batch instead of once
/// per applicant; alone, a hold goes straight on.
const HOLD_CALLS: usize = 2;

/// Most holds of one script call.
const HOLD_BATCH: usize = 128;

struct PendingHold {
    day: DayKey,
    hold: HoldArgs,
    now_ms: i64,
    reply: tokio::sync::oneshot::Sender<redis::RedisResult<HoldOutcome>>,
}

/// Takes the queued holds in arrival order, at most [`HOLD_CALLS`] calls at a time, one call
/// per office+date of each batch (one hash tag, so one cluster slot). Ends when every
/// [`Counters`] that queues holds is gone.
async fn decide_holds(
    counters: Counters,
    mut queue: tokio::sync::mpsc::UnboundedReceiver<PendingHold>,
) {
    let calls = std::sync::Arc::new(tokio::sync::Semaphore::new(HOLD_CALLS));
    loop {
        let Ok(call) = calls.clone().acquire_owned().await else {
            return;
        };
        let Some(first) = queue.recv().await else {
            return;
        };
        let mut batch = vec![first];
        while batch.len() < HOLD_BATCH {
            match queue.try_recv() {
                Ok(p) => batch.push(p),
                Err(_) => break,
            }
        }
        let mut days: Vec<(DayKey, i64, Vec<PendingHold>)> = Vec::new();
        for p in batch {
            match days.iter_mut().find(|(d, ..)| *d == p.day) {
                Some((_, now_ms, group)) => {
                    *now_ms = (*now_ms).max(p.now_ms);
                    group.push(p);
                }
                None => days.push((p.day.clone(), p.now_ms, vec![p])),
            }
        }
        let counters = counters.clone();
        tokio::spawn(async move {
            let _call = call;
            futures::future::join_all(days.into_iter().map(|(day, now_ms, group)| {
                let counters = &counters;
                async move {
                    let (args, replies): (Vec<HoldArgs>, Vec<_>) =
                        group.into_iter().map(|p| (p.hold, p.reply)).unzip();
                    match counters.hold_all(&day, &args, now_ms).await {
                        Ok(outcomes) => {
                            counters.learn(&day, &args, &outcomes, now_ms);
                            for (reply, o) in replies.into_iter().zip(outcomes) {
                                let _ = reply.send(Ok(o));
                            }
                        }
                        Err(e) => {
                            for reply in replies {
                                let _ = reply.send(Err(redis::RedisError::from((
                                    e.kind(),
                                    "redis hold call failed",
                                    e.to_string(),
                                ))));
                            }
                        }
                    }
                }
            }))
            .await;
        });
    }
}

/// Every quota script is idempotent (holds by id, Init only on missing counters), so a call
/// that met a dropped connection (Redis restarted or failed over) is safely sent again once
/// the connection manager has reconnected.
async fn retrying<T, F, Fut>(call: F) -> redis::RedisResult<T>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = redis::RedisResult<T>>,
{
    let mut attempt = 0;
    loop {
        // Bounded even while the connection manager is still reconnecting: a Redis that is
        // down answers UNAVAILABLE in seconds, not at the RPC deadline.
        let answer = tokio::time::timeout(CALL_TIMEOUT, call())
            .await
            .unwrap_or_else(|_| {
                Err(redis::RedisError::from((
                    redis::ErrorKind::IoError,
                    "redis call timed out",
                )))
            });
        match answer {
            Err(e) if attempt < 3 && e.is_connection_dropped() => {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(20 * attempt)).await;
            }
            other => return other,
        }
    }
}

fn hold_outcome(v: &[Value]) -> redis::RedisResult<HoldOutcome> {
    Ok(match tag(v).as_str() {
        "CLOSED" => HoldOutcome::Closed,
        "EXISTS" => HoldOutcome::Exists {
            record: HoldRecord::decode(&text(v, 1)).ok_or_else(|| bad("hold record"))?,
            epoch: num(v, 2),
        },
        "FULL" => HoldOutcome::Full {
            remaining: num(v, 1) as u32,
        },
        "OK" => HoldOutcome::Admitted {
            remaining: num(v, 1) as u32,
            epoch: num(v, 2),
            capacity: num(v, 3) as u32,
        },
        other => return Err(bad(other)),
    })
}

fn gone() -> redis::RedisError {
    redis::RedisError::from((redis::ErrorKind::IoError, "hold queue closed"))
}

fn flag(b: bool) -> String {
    if b { "1" } else { "0" }.to_owned()
}

fn bad(what: &str) -> redis::RedisError {
    redis::RedisError::from((
        redis::ErrorKind::TypeError,
        "unexpected quota script answer",
        what.to_owned(),
    ))
}

fn text(v: &[Value], i: usize) -> String {
    match v.get(i) {
        Some(Value::BulkString(b)) => String::from_utf8_lossy(b).into_owned(),
        Some(Value::SimpleString(s)) => s.clone(),
        Some(Value::Int(n)) => n.to_string(),
        _ => String::new(),
    }
}

fn tag(v: &[Value]) -> String {
    text(v, 0)
}

fn num(v: &[Value], i: usize) -> i64 {
    match v.get(i) {
        Some(Value::Int(n)) => *n,
        _ => text(v, i).parse().unwrap_or(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hold_records_round_trip() {
        let r = HoldRecord {
            session: SessionOfDay::Siang,
            seats: 3,
            expires_ms: 1_764_000_000_000,
            remaining_after: 72,
            state: HoldState::Held,
        };
        assert_eq!(r.encode(), "SIANG|3|1764000000000|72|H");
        assert_eq!(HoldRecord::decode(&r.encode()), Some(r));
    }

    #[test]
    fn every_key_of_a_day_shares_one_hash_tag() {
        let tag = |k: &str| k[k.find('{').unwrap()..=k.find('}').unwrap()].to_owned();
        let day = DayKey {
            office: "BOGOR".into(),
            date: "2026-12-01".parse().unwrap(),
        };
        let keys = day_keys("antrean:", &day);
        assert_eq!(keys[0], "antrean:q:{BOGOR:2026-12-01}:day");
        assert!(keys.iter().all(|k| tag(k) == "{BOGOR:2026-12-01}"));
    }
}
