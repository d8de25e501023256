//! The quota domain service: Hold, Commit, Release, availability and calendar changes,
//! over Redis counters (admission at memory speed) and the PostgreSQL ledger (the authority).
//!
//! Counters missing in Redis (restart, flush, failover, or invalidated by a calendar change)
//! are rebuilt from the ledger before anyone is admitted for that day: see [`Quota::build`].
use crate::admissions::{self, Recorder};
use crate::calendar::{ClosedReason, DayRule, day_rule, horizon};
use crate::config::Rules;
use crate::counters::{
    CommitOutcome, Counters, DayBuild, DayCounters, DayKey, HoldArgs, HoldOutcome,
};
use crate::error::{QuotaError, Result};
use crate::ledger::{self, CommitHold, HoldRow, HoldState, InsertHold, NewHold};
use crate::office::{Office, Offices};
use crate::releases::{Release, Releases};
use antrean_platform::actor::Actor;
use antrean_platform::clock::SharedClock;
use antrean_platform::domain::{SessionOfDay, local_date, local_instant};
use antrean_platform::status::FieldViolation;
use chrono::{DateTime, Days, Duration, NaiveDate, NaiveTime, Utc};
use sqlx::PgPool;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Seats per hold: an applicant and up to four family members (the platform's one number).
pub const MAX_SEATS: u32 = antrean_platform::domain::MAX_APPLICANTS;
/// Default and longest hold time.
pub const DEFAULT_TTL_SECONDS: u32 = 900;
pub const MAX_TTL_SECONDS: u32 = 86_400;
/// How long sold-out answers reuse the same list of next free dates.
const NEXT_DATES_CACHE: std::time::Duration = std::time::Duration::from_secs(1);

/// Transactions recording admissions at once (of the pool's `QUOTA_DB_MAX_CONNECTIONS`).
const ADMISSION_WRITERS: usize = 4;

/// A session counts as selling out once an admission leaves at most 1/SELLING_OUT of its
/// capacity: the next free dates are then looked up ahead ([`Quota::warm_next_dates`]).
const SELLING_OUT: u32 = 10;
/// Attempts of one Hold against counters that are being rebuilt or were just lost.
const HOLD_ATTEMPTS: usize = 6;
/// The shortest life of a day's counters: those of a day long past, built for a read, are
/// kept this long rather than dropped as soon as they are written.
const COUNTERS_MIN_LIFETIME_MS: i64 = 3_600_000;

#[derive(Debug, Clone)]
pub struct HoldCommand {
    pub hold_id: String,
    pub office_code: String,
    pub date: String,
    pub session: i32,
    pub seats: u32,
    pub ttl_seconds: u32,
    /// An admission of the release draw: the only holds a date takes in its draw window.
    pub draw_admission: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HoldAnswer {
    pub hold_id: String,
    pub remaining: u32,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct CommitAnswer {
    pub hold: HoldRow,
    pub capacity: u32,
}

/// One session of one day, as every channel sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionView {
    pub session: SessionOfDay,
    pub capacity: u32,
    pub remaining: u32,
    pub confirmed: u32,
    pub held: u32,
    pub start: NaiveTime,
    pub end: NaiveTime,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayView {
    pub date: NaiveDate,
    pub open: bool,
    pub closed_reason: Option<ClosedReason>,
    pub note: String,
    pub special: bool,
    pub sessions: Vec<SessionView>,
}

impl DayView {
    pub fn remaining(&self, s: SessionOfDay) -> u32 {
        self.sessions
            .iter()
            .find(|v| v.session == s)
            .map_or(0, |v| v.remaining)
    }

    /// Open, with `seats` free in `session` (or in either session).
    pub fn has_room(&self, seats: u32, session: Option<SessionOfDay>) -> bool {
        self.open
            && match session {
                Some(s) => self.remaining(s) >= seats,
                None => self.sessions.iter().any(|v| v.remaining >= seats),
            }
    }
}

/// Office, seats and session of a sold-out answer's next free dates.
type NextDatesKey = (String, u32, Option<SessionOfDay>);
type NextDatesCache = HashMap<NextDatesKey, (Instant, Vec<NaiveDate>)>;

/// One async lock per key, for work that must run once at a time per key in this process.
struct KeyedLocks<K>(Mutex<HashMap<K, Arc<tokio::sync::Mutex<()>>>>);

impl<K> Default for KeyedLocks<K> {
    fn default() -> Self {
        Self(Mutex::default())
    }
}

impl<K: Eq + std::hash::Hash + Clone> KeyedLocks<K> {
    /// Keys kept at most before the locks nobody holds are dropped.
    const MAX: usize = 4096;

    fn get(&self, key: &K) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if locks.len() > Self::MAX {
            locks.retain(|_, l| Arc::strong_count(l) > 1);
        }
        locks.entry(key.clone()).or_default().clone()
    }
}

/// The holds this process admitted into the ledger, by id, until it commits, releases or
/// sees them expire: a commit takes what it needs of one (office, date, session, seats, the
/// capacity it was admitted under, its expiry; none of them ever change) from here instead
/// of reading the ledger. A hold another replica admitted, or one admitted before a restart,
/// is read from the ledger. The state is not kept: Redis and the ledger's commit decide it.
#[derive(Default)]
struct Admitted(Mutex<AdmittedHolds>);

#[derive(Default)]
struct AdmittedHolds {
    holds: HashMap<String, HoldRow>,
    /// The size at which the expired ones are dropped on the next admission.
    prune_at: usize,
}

impl Admitted {
    const MIN_PRUNE_AT: usize = 1024;

    fn insert(&self, row: HoldRow, now: DateTime<Utc>) {
        let mut a = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if a.holds.len() >= a.prune_at {
            a.holds.retain(|_, h| h.expires_at > now);
            a.prune_at = (a.holds.len() * 2).max(Self::MIN_PRUNE_AT);
        }
        a.holds.insert(row.hold_id.clone(), row);
    }

    fn take(&self, hold_id: &str) -> Option<HoldRow> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .holds
            .remove(hold_id)
    }

    fn forget_expired(&self, now: DateTime<Utc>) {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .holds
            .retain(|_, h| h.expires_at > now);
    }
}

pub struct Quota {
    pool: PgPool,
    counters: Counters,
    offices: Offices,
    clock: SharedClock,
    rules: Rules,
    /// When dates open, and their draw windows.
    releases: Releases,
    /// Admitted holds on their way into the ledger, those arriving together in one commit.
    admissions: Recorder,
    admitted: Admitted,
    /// One build per day at a time in this process (other replicas wait on the row lock).
    build_locks: KeyedLocks<DayKey>,
    next_dates: Mutex<NextDatesCache>,
    /// Held by the one request looking up an office's next free dates.
    next_dates_lookups: KeyedLocks<NextDatesKey>,
}

impl Quota {
    pub async fn new(
        pool: PgPool,
        counters: Counters,
        clock: SharedClock,
        rules: Rules,
    ) -> anyhow::Result<Self> {
        let offices = Offices::new(ledger::load_offices(&pool).await?);
        let releases = Releases::default();
        releases.reload(&pool, clock.now()).await?;
        Ok(Self {
            releases,
            admissions: admissions::recorder(pool.clone(), ADMISSION_WRITERS),
            admitted: Admitted::default(),
            pool,
            counters,
            offices,
            clock,
            rules,
            build_locks: KeyedLocks::default(),
            next_dates: Mutex::default(),
            next_dates_lookups: KeyedLocks::default(),
        })
    }

    /// The Redis side.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    pub fn offices(&self) -> &Offices {
        &self.offices
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    pub fn office(&self, code: &str) -> Result<&Arc<Office>> {
        self.offices
            .get(code)
            .ok_or_else(|| QuotaError::UnknownOffice(code.trim().to_owned()))
    }

    /// The office's first and last bookable date now.
    pub fn bookable_range(&self, office: &Office) -> (NaiveDate, NaiveDate) {
        horizon(local_date(office.tz, self.now()), self.rules)
    }

    // ---- Hold / Commit / Release -------------------------------------------------------

    pub async fn hold(self: &Arc<Self>, cmd: HoldCommand) -> Result<HoldAnswer> {
        let (office, date, session) = self.validate_hold(&cmd)?;
        let day = DayKey {
            office: office.code.clone(),
            date,
        };
        let now = self.now();
        self.check_open(&office, date, now, cmd.draw_admission)?;
        if self
            .counters
            .refuses(&day, session, &cmd.hold_id, now.timestamp_millis())
        {
            return Err(self.sold_out(&office, cmd.seats, session, date, 0).await?);
        }
        // Its own task: a caller that gives up mid-way leaves no seat taken in Redis without
        // its ledger row.
        let quota = self.clone();
        tokio::spawn(async move { quota.hold_counted(office, day, session, cmd).await })
            .await
            .unwrap_or_else(|e| Err(QuotaError::Internal(e.to_string())))
    }

    /// A hold the counters decide, then the ledger records.
    async fn hold_counted(
        self: Arc<Self>,
        office: Arc<Office>,
        day: DayKey,
        session: SessionOfDay,
        cmd: HoldCommand,
    ) -> Result<HoldAnswer> {
        let date = day.date;
        let ttl = if cmd.ttl_seconds == 0 {
            DEFAULT_TTL_SECONDS
        } else {
            cmd.ttl_seconds
        };
        for attempt in 0..HOLD_ATTEMPTS {
            let now = self.now();
            self.check_open(&office, date, now, cmd.draw_admission)?;
            let expires_at = now + Duration::seconds(i64::from(ttl));
            let outcome = self
                .counters
                .hold(
                    &day,
                    HoldArgs {
                        hold_id: cmd.hold_id.clone(),
                        session,
                        seats: cmd.seats,
                        expires_ms: expires_at.timestamp_millis(),
                    },
                    now.timestamp_millis(),
                )
                .await?;
            match outcome {
                HoldOutcome::Missing => self.build(&office, date).await?,
                HoldOutcome::Closed => return Err(self.closed_error(&day).await?),
                HoldOutcome::Full { remaining } => {
                    return Err(self
                        .sold_out(&office, cmd.seats, session, date, remaining)
                        .await?);
                }
                HoldOutcome::Exists { record, .. } => {
                    if record.session != session || record.seats != cmd.seats {
                        return Err(QuotaError::HoldIdReused);
                    }
                    match record.state {
                        HoldState::Expired => return Err(QuotaError::HoldExpired),
                        HoldState::Released => return Err(QuotaError::HoldReleased),
                        HoldState::Held | HoldState::Committed => {}
                    }
                    // A retry. Answer it only once the first attempt reached the ledger.
                    let mut conn = self.pool.acquire().await?;
                    if let Some(row) = ledger::get_hold(&mut conn, &cmd.hold_id).await? {
                        return answer_from_row(&row, &day, session, cmd.seats, now);
                    }
                    drop(conn);
                    tokio::time::sleep(std::time::Duration::from_millis(10 << attempt)).await;
                }
                HoldOutcome::Admitted {
                    remaining,
                    epoch,
                    capacity,
                } => {
                    let new = NewHold {
                        hold_id: cmd.hold_id.clone(),
                        office_code: office.code.clone(),
                        date,
                        session,
                        seats: cmd.seats,
                        expires_at,
                        remaining_after: remaining,
                        admitted_capacity: capacity,
                        epoch,
                    };
                    let recorded = self.admissions.submit(new.clone()).await;
                    match recorded {
                        Ok(InsertHold::Inserted) => {
                            self.admitted.insert(new.into(), now);
                            if remaining * SELLING_OUT <= capacity {
                                self.warm_next_dates(&office, cmd.seats, session, date);
                            }
                            return Ok(HoldAnswer {
                                hold_id: cmd.hold_id,
                                remaining,
                                expires_at: truncate_ms(expires_at),
                            });
                        }
                        Ok(InsertHold::EpochMismatch { ledger_epoch }) => {
                            // Admitted by counters that were lost and rebuilt meanwhile: the
                            // seats are not counted anywhere now. If instead the counters are
                            // newer than the ledger (a rebuild whose commit failed), drop
                            // them. Either way, try again against current counters.
                            if epoch > ledger_epoch {
                                self.counters.invalidate(&day).await?;
                            }
                        }
                        Ok(InsertHold::Conflict(row)) => {
                            // The id is in the ledger but not in these counters. Keep the
                            // admission only if it is that very hold, still live.
                            let answer = answer_from_row(&row, &day, session, cmd.seats, now);
                            if answer.is_err() || row.state != HoldState::Held {
                                self.undo_admission(&day, &cmd.hold_id).await;
                            }
                            return answer;
                        }
                        Err(e) => {
                            self.undo_admission(&day, &cmd.hold_id).await;
                            return Err(e.into());
                        }
                    }
                }
            }
            tracing::debug!(attempt, hold_id = %cmd.hold_id, "hold retried");
        }
        Err(QuotaError::Redis(redis::RedisError::from((
            redis::ErrorKind::TryAgain,
            "quota counters kept changing; try again",
        ))))
    }

    /// The refusal of a Hold for want of seats, with the next dates that have them.
    async fn sold_out(
        &self,
        office: &Office,
        seats: u32,
        session: SessionOfDay,
        date: NaiveDate,
        remaining: u32,
    ) -> Result<QuotaError> {
        let next_dates = self
            .next_dates_cached(office, seats, Some(session), date)
            .await?;
        Ok(QuotaError::SoldOut {
            date,
            session,
            remaining,
            next_dates,
        })
    }

    async fn undo_admission(&self, day: &DayKey, hold_id: &str) {
        if let Err(e) = self
            .counters
            .release(day, hold_id, self.now().timestamp_millis())
            .await
        {
            tracing::warn!(error = %e, hold_id, "could not undo a Redis admission; it will expire");
        }
    }

    fn validate_hold(&self, cmd: &HoldCommand) -> Result<(Arc<Office>, NaiveDate, SessionOfDay)> {
        let mut v = Vec::new();
        if cmd.hold_id.is_empty()
            || cmd.hold_id.len() > 128
            || !cmd
                .hold_id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c))
        {
            v.push(FieldViolation::new(
                "hold_id",
                "wajib diisi, 1-128 karakter huruf, angka, '-', '_', '.', ':'",
            ));
        }
        let office = self.offices.get(&cmd.office_code).cloned();
        if cmd.office_code.trim().is_empty() {
            v.push(FieldViolation::new("office_code", "wajib diisi"));
        }
        let date = antrean_platform::domain::parse_date(&cmd.date);
        if date.is_none() {
            v.push(FieldViolation::new(
                "date",
                "tanggal harus berformat YYYY-MM-DD",
            ));
        }
        let session = SessionOfDay::from_proto(cmd.session);
        if session.is_none() {
            v.push(FieldViolation::new(
                "session",
                "pilih SESSION_PAGI atau SESSION_SIANG",
            ));
        }
        if !(1..=MAX_SEATS).contains(&cmd.seats) {
            v.push(FieldViolation::new(
                "seats",
                antrean_platform::domain::seats_rule(),
            ));
        }
        if cmd.ttl_seconds > MAX_TTL_SECONDS {
            v.push(FieldViolation::new(
                "ttl_seconds",
                "paling lama 86400 detik (24 jam)",
            ));
        }
        let (Some(date), Some(session)) = (date, session) else {
            return Err(QuotaError::Invalid(v));
        };
        if !v.is_empty() {
            return Err(QuotaError::Invalid(v));
        }
        let office = office.ok_or_else(|| QuotaError::UnknownOffice(cmd.office_code.clone()))?;
        Ok((office, date, session))
    }

    /// Whether `date` takes this hold now: inside the horizon (or released by a schedule),
    /// released, and past its draw window unless the hold is a draw admission.
    fn check_open(
        &self,
        office: &Office,
        date: NaiveDate,
        now: DateTime<Utc>,
        draw_admission: bool,
    ) -> Result<()> {
        let (first, last) = horizon(local_date(office.tz, now), self.rules);
        let release = self.release_of(office, date);
        if date < first || (date > last && !release.scheduled) {
            return Err(QuotaError::OutsideHorizon { date, first, last });
        }
        if now < release.opens_at {
            return Err(QuotaError::NotReleased {
                date,
                opens_at: release.opens_at,
                tz: office.tz,
            });
        }
        if release.drawing(now) && !draw_admission {
            return Err(QuotaError::DrawOpen {
                date,
                closes_at: release.draw_closes_at,
                tz: office.tz,
            });
        }
        let settle = Duration::seconds(i64::from(self.rules.draw_settle_seconds));
        if release.settling(now, settle) && !draw_admission {
            return Err(QuotaError::DrawRunning {
                date,
                closes_at: release.draw_closes_at,
                until: release.draw_closes_at + settle,
                tz: office.tz,
            });
        }
        Ok(())
    }

    /// When `date` opens at `office`, and its draw window.
    pub fn release_of(&self, office: &Office, date: NaiveDate) -> Release {
        self.releases
            .of(&office.code, office.tz, date, self.rules.horizon_days)
    }

    /// The dates whose release may come soon at `office`: the last date of the horizon and
    /// the one after it (by the rule), and every scheduled date.
    pub fn release_candidates(&self, office: &Office) -> Vec<NaiveDate> {
        let (_, last) = self.bookable_range(office);
        let mut dates = vec![last];
        dates.extend(last.succ_opt());
        dates.extend(self.releases.scheduled_dates(&office.code));
        dates.sort_unstable();
        dates.dedup();
        dates
    }

    pub fn release_rule(&self, office: &Office) -> crate::releases::Rule {
        self.releases.rule(&office.code)
    }

    /// Sets an office's release rule (audited).
    pub async fn set_release_rule(
        &self,
        by: &Actor,
        office: &Office,
        rule: crate::releases::Rule,
    ) -> Result<()> {
        let before = self.releases.rule(&office.code);
        let mut tx = self.pool.begin().await?;
        ledger::set_release_rule(&mut tx, &office.code, &rule).await?;
        antrean_platform::audit::record(
            &mut *tx,
            antrean_platform::audit::Action {
                actor: by,
                action: "SetReleaseRule",
                office_code: &office.code,
                target: &office.code,
                before: Some(
                    serde_json::json!({"release_local": before.release_local.to_string(),
                    "draw_window_seconds": before.draw_window_seconds}),
                ),
                after: Some(
                    serde_json::json!({"release_local": rule.release_local.to_string(),
                    "draw_window_seconds": rule.draw_window_seconds}),
                ),
                at: self.now(),
            },
        )
        .await?;
        tx.commit().await?;
        self.releases.reload(&self.pool, self.now()).await?;
        Ok(())
    }

    /// Opens one date at `opens_at` with its own draw window (audited).
    pub async fn schedule_release(
        &self,
        by: &Actor,
        office: &Office,
        date: NaiveDate,
        opens_at: DateTime<Utc>,
        draw_window_seconds: u32,
    ) -> Result<Release> {
        let mut tx = self.pool.begin().await?;
        ledger::schedule_release(&mut tx, &office.code, date, opens_at, draw_window_seconds)
            .await?;
        antrean_platform::audit::record(
            &mut *tx,
            antrean_platform::audit::Action {
                actor: by,
                action: "ScheduleRelease",
                office_code: &office.code,
                target: &format!("{} {date}", office.code),
                before: None,
                after: Some(serde_json::json!({"opens_at": opens_at.to_rfc3339(),
                    "draw_window_seconds": draw_window_seconds})),
                at: self.now(),
            },
        )
        .await?;
        tx.commit().await?;
        self.releases.reload(&self.pool, self.now()).await?;
        Ok(self.release_of(office, date))
    }

    async fn closed_error(&self, day: &DayKey) -> Result<QuotaError> {
        let c = self
            .counters
            .read(day, self.now().timestamp_millis())
            .await?
            .unwrap_or_default();
        Ok(QuotaError::Closed {
            date: day.date,
            reason: ClosedReason::from_code(&c.reason).unwrap_or(ClosedReason::ClosedByOffice),
            note: c.note,
        })
    }

    /// Turns a live hold into confirmed seats. Idempotent.
    pub async fn commit(&self, hold_id: &str) -> Result<CommitAnswer> {
        let row = match self.admitted.take(hold_id) {
            Some(row) => row,
            None => self.hold_row(hold_id).await?,
        };
        match row.state {
            HoldState::Released => return Err(QuotaError::HoldReleased),
            HoldState::Expired => return Err(QuotaError::HoldExpired),
            HoldState::Committed => return self.committed(row).await,
            HoldState::Held => {}
        }
        let office = self.office(&row.office_code)?.clone();
        let day = DayKey {
            office: office.code.clone(),
            date: row.date,
        };
        let now = self.now();
        if row.expires_at <= now {
            ledger::expire_due(&self.pool, now).await?;
            return Err(QuotaError::HoldExpired);
        }
        // Redis first: a hold committed in Redis but not (yet) in the ledger is counted as
        // used, which can only refuse seats, never oversell them. A retry completes it; the
        // sweeper gives the seats back if it never comes.
        let mut outcome = CommitOutcome::Missing;
        for _ in 0..3 {
            outcome = self
                .counters
                .commit(
                    &day,
                    hold_id,
                    row.session(),
                    row.seats as u32,
                    now.timestamp_millis(),
                )
                .await?;
            if outcome != CommitOutcome::Missing {
                break;
            }
            self.build(&office, row.date).await?;
        }
        match outcome {
            CommitOutcome::Committed => {}
            CommitOutcome::Expired => return Err(QuotaError::HoldExpired),
            CommitOutcome::Released => return Err(QuotaError::HoldReleased),
            CommitOutcome::Missing => {
                return Err(QuotaError::Redis(redis::RedisError::from((
                    redis::ErrorKind::TryAgain,
                    "counters missing",
                ))));
            }
        }
        match ledger::commit_hold(&self.pool, &row, now).await? {
            CommitHold::Committed { hold, capacity } => Ok(CommitAnswer { hold, capacity }),
            CommitHold::Expired => {
                self.undo_admission(&day, hold_id).await;
                Err(QuotaError::HoldExpired)
            }
            CommitHold::Released => {
                self.undo_admission(&day, hold_id).await;
                Err(QuotaError::HoldReleased)
            }
            CommitHold::CapacityExceeded => {
                self.undo_admission(&day, hold_id).await;
                Err(QuotaError::CapacityExceeded)
            }
        }
    }

    async fn committed(&self, row: HoldRow) -> Result<CommitAnswer> {
        let office = self.office(&row.office_code)?.clone();
        let day = self.day(&office, row.date).await?;
        Ok(CommitAnswer {
            capacity: crate::counters::of(&day.capacity, row.session()),
            hold: row,
        })
    }

    async fn hold_row(&self, hold_id: &str) -> Result<HoldRow> {
        let mut conn = self.pool.acquire().await?;
        ledger::get_hold(&mut conn, hold_id)
            .await?
            .ok_or(QuotaError::UnknownHold)
    }

    /// Gives back a hold's seats, held or committed. True when this call released them.
    pub async fn release(&self, hold_id: &str) -> Result<bool> {
        self.admitted.take(hold_id);
        let Some((row, changed)) = ledger::release_hold(&self.pool, hold_id).await? else {
            // Never reached the ledger (the admission was undone): nothing to give back.
            return Ok(false);
        };
        // Always tell Redis, also on a retry: its release is idempotent.
        let day = DayKey {
            office: row.office_code.clone(),
            date: row.date,
        };
        self.counters
            .release(&day, hold_id, self.now().timestamp_millis())
            .await?;
        Ok(changed)
    }

    /// Marks expired holds in the ledger and makes sure Redis no longer counts them (a hold
    /// committed in Redis whose ledger commit never came). Answers how many expired.
    pub async fn sweep(&self) -> Result<usize> {
        let now = self.now();
        self.admitted.forget_expired(now);
        // Release rules and schedules changed through other replicas.
        self.releases.reload(&self.pool, now).await?;
        let expired = ledger::expire_due(&self.pool, now).await?;
        for h in &expired {
            let day = DayKey {
                office: h.office_code.clone(),
                date: h.date,
            };
            self.counters
                .release(&day, &h.hold_id, now.timestamp_millis())
                .await?;
        }
        Ok(expired.len())
    }

    // ---- Rebuild ---------------------------------------------------------------------------

    /// Builds a day's counters from the ledger, unless they exist.
    ///
    /// Under the day's row lock: read capacity, confirmed seats and the live holds, bump the
    /// epoch, write the counters with Init (which does nothing if another replica got there
    /// first), commit. Admissions by older counters then fail the epoch check in
    /// [`ledger::insert_hold`] and are retried against these.
    pub async fn build(&self, office: &Office, date: NaiveDate) -> Result<()> {
        let key = DayKey {
            office: office.code.clone(),
            date,
        };
        let lock = self.build_locks.get(&key);
        let _guard = lock.lock().await;
        let now = self.now();
        if self
            .counters
            .read(&key, now.timestamp_millis())
            .await?
            .is_some()
        {
            return Ok(());
        }
        let mut tx = self.pool.begin().await?;
        let ledger::DayForBuild { plan, epoch, holds } =
            ledger::day_for_build(&mut tx, office, date, now).await?;
        let (open, reason, note, special) = match &plan.rule {
            DayRule::Open { special, note } => (true, String::new(), note.clone(), *special),
            DayRule::Closed { reason, note } => {
                (false, reason.code().to_owned(), note.clone(), false)
            }
        };
        // Three days after the date, on this service's clock: Redis's own clock is not the
        // one every replica and test agrees on, so the counters get a lifetime, not an instant.
        let expire_at = local_instant(office.tz, date + Days::new(3), NaiveTime::MIN);
        let lifetime_ms = (expire_at - now)
            .num_milliseconds()
            .max(COUNTERS_MIN_LIFETIME_MS);
        let build = DayBuild {
            epoch,
            open,
            reason,
            note,
            special,
            capacity: plan.capacity,
            confirmed: plan.confirmed,
            holds,
            lifetime_ms,
        };
        if !self.counters.init(&key, &build).await? {
            tx.rollback().await?;
            return Ok(());
        }
        if let Err(e) = tx.commit().await {
            let _ = self.counters.invalidate(&key).await;
            return Err(e.into());
        }
        tracing::info!(office = %office.code, %date, epoch, "quota counters built from the ledger");
        // A rebuild (epoch above 1) follows lost counters (Redis restarted or failed over) or
        // counters dropped after a staff change; many at once mean Redis lost them.
        let kind = if epoch > 1 { "rebuild" } else { "first" };
        metrics::counter!("quota_counter_builds_total", "kind" => kind).increment(1);
        Ok(())
    }

    // ---- Availability ----------------------------------------------------------------------

    /// A day's counters, built from the ledger when missing.
    async fn day(&self, office: &Office, date: NaiveDate) -> Result<DayCounters> {
        let key = DayKey {
            office: office.code.clone(),
            date,
        };
        for _ in 0..3 {
            if let Some(c) = self
                .counters
                .read(&key, self.now().timestamp_millis())
                .await?
            {
                return Ok(c);
            }
            self.build(office, date).await?;
        }
        Err(QuotaError::Redis(redis::RedisError::from((
            redis::ErrorKind::TryAgain,
            "counters missing",
        ))))
    }

    /// One date as every channel sees it.
    pub async fn day_view(&self, office: &Office, date: NaiveDate) -> Result<DayView> {
        let (first, last) = self.bookable_range(office);
        let release = self.release_of(office, date);
        if release.opens_at > self.now() && (first..=last).contains(&date) {
            return Ok(DayView {
                date,
                open: false,
                closed_reason: Some(ClosedReason::NotReleased),
                note: String::new(),
                special: false,
                sessions: Vec::new(),
            });
        }
        let scheduled_open = release.scheduled && release.opens_at <= self.now();
        if date < first || (date > last && !scheduled_open) {
            return Ok(DayView {
                date,
                open: false,
                closed_reason: Some(ClosedReason::OutsideHorizon),
                note: String::new(),
                special: false,
                sessions: Vec::new(),
            });
        }
        let c = self.day(office, date).await?;
        let sessions = SessionOfDay::ALL
            .iter()
            .map(|&s| {
                let h = office.hours(s);
                SessionView {
                    session: s,
                    capacity: crate::counters::of(&c.capacity, s),
                    remaining: if c.open { c.remaining(s) } else { 0 },
                    confirmed: crate::counters::of(&c.confirmed, s),
                    held: c.held(s),
                    start: h.start,
                    end: h.end,
                }
            })
            .collect();
        Ok(DayView {
            date,
            open: c.open,
            closed_reason: ClosedReason::from_code(&c.reason),
            note: c.note,
            special: c.special,
            sessions,
        })
    }

    /// Every date from `from` to `to` (inclusive).
    pub async fn availability(
        &self,
        office: &Office,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<DayView>> {
        let dates: Vec<NaiveDate> = from.iter_days().take_while(|d| *d <= to).collect();
        futures::future::try_join_all(dates.into_iter().map(|d| self.day_view(office, d))).await
    }

    /// The next `limit` bookable dates from `from` with `seats` free.
    pub async fn next_available(
        &self,
        office: &Office,
        seats: u32,
        limit: usize,
        session: Option<SessionOfDay>,
        from: Option<NaiveDate>,
    ) -> Result<Vec<DayView>> {
        let (first, last) = self.bookable_range(office);
        let from = from.map_or(first, |f| f.max(first));
        if from > last {
            return Ok(Vec::new());
        }
        let days = self.availability(office, from, last).await?;
        Ok(days
            .into_iter()
            .filter(|d| d.has_room(seats, session))
            .take(limit)
            .collect())
    }

    /// Looks up the next free dates a sold-out answer will list, in the background (a no-op
    /// when they are fresh or being looked up already): a session about to sell out then
    /// refuses its crowd with a list at hand instead of every first refusal waiting for the
    /// one lookup.
    fn warm_next_dates(
        self: &Arc<Self>,
        office: &Arc<Office>,
        seats: u32,
        session: SessionOfDay,
        date: NaiveDate,
    ) {
        let (quota, office) = (self.clone(), office.clone());
        tokio::spawn(async move {
            if let Err(e) = quota
                .next_dates_cached(&office, seats, Some(session), date)
                .await
            {
                tracing::debug!(error = %e, "next free dates not looked up ahead");
            }
        });
    }

    /// Next free dates for sold-out answers; a flash crowd shares one lookup per second.
    /// One request at a time per office, seats and session looks them up: while it does, the
    /// others take the dates it is replacing (at most a second older), so an expiry never
    /// sends the whole crowd to Redis at once; only when there are none yet do they wait for
    /// it. Lookups for other offices go on meanwhile.
    async fn next_dates_cached(
        &self,
        office: &Office,
        seats: u32,
        session: Option<SessionOfDay>,
        except: NaiveDate,
    ) -> Result<Vec<NaiveDate>> {
        let pick = |dates: &[NaiveDate]| -> Vec<NaiveDate> {
            dates
                .iter()
                .copied()
                .filter(|d| *d != except)
                .take(5)
                .collect()
        };
        let key = (office.code.clone(), seats, session);
        let cached = |fresh_only: bool| {
            self.next_dates
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .get(&key)
                .filter(|(at, _)| !fresh_only || at.elapsed() < NEXT_DATES_CACHE)
                .map(|(_, dates)| pick(dates))
        };
        if let Some(dates) = cached(true) {
            return Ok(dates);
        }
        let lookup = self.next_dates_lookups.get(&key);
        let _lookup = match lookup.try_lock() {
            Ok(guard) => guard,
            Err(_) => match cached(false) {
                Some(stale) => return Ok(stale),
                None => lookup.lock().await,
            },
        };
        // Another request may have looked them up while this one waited.
        if let Some(dates) = cached(true) {
            return Ok(dates);
        }
        metrics::counter!("quota_next_dates_lookups_total").increment(1);
        let dates: Vec<NaiveDate> = self
            .next_available(office, seats, 6, session, None)
            .await?
            .into_iter()
            .map(|d| d.date)
            .collect();
        let answer = pick(&dates);
        self.next_dates
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(key, (Instant::now(), dates));
        Ok(answer)
    }

    // ---- Calendar and capacity (admin) -----------------------------------------------------

    /// Runs a calendar change under the day's row lock and drops the day's counters before
    /// the change commits, so the next request rebuilds them from the changed ledger. Live
    /// holds are all in the ledger, so nothing held is lost by the rebuild.
    async fn change_day<F>(&self, office: &Office, date: NaiveDate, change: F) -> Result<()>
    where
        F: for<'c> FnOnce(
            &'c mut sqlx::PgConnection,
            &'c ledger::DayRow,
        ) -> futures::future::BoxFuture<'c, sqlx::Result<()>>,
    {
        let mut tx = self.pool.begin().await?;
        let row = ledger::lock_day(&mut tx, office, date).await?;
        change(&mut tx, &row).await?;
        self.counters
            .invalidate(&DayKey {
                office: office.code.clone(),
                date,
            })
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Sets one session's capacity. Lowering below the seats already taken cancels nothing:
    /// remaining shows 0 and new holds are refused until seats come free.
    pub async fn set_capacity(
        &self,
        by: &Actor,
        office: &Office,
        date: NaiveDate,
        session: SessionOfDay,
        capacity: u32,
    ) -> Result<DayView> {
        let (by, now) = (by.clone(), self.now());
        let code = office.code.clone();
        self.change_day(office, date, move |conn, _| {
            Box::pin(async move {
                let before =
                    ledger::set_session_capacity(conn, &code, date, session, capacity).await?;
                ledger::audit(
                    conn,
                    &by,
                    now,
                    &code,
                    date,
                    "SET_CAPACITY",
                    (
                        serde_json::json!({"session": session.as_str(), "capacity": before}),
                        serde_json::json!({"session": session.as_str(), "capacity": capacity}),
                    ),
                )
                .await
            })
        })
        .await?;
        self.day_view_anyway(office, date).await
    }

    /// Adds `seats` to one session's capacity, once per `key`.
    pub async fn add_capacity(
        &self,
        by: &Actor,
        office: &Office,
        date: NaiveDate,
        session: SessionOfDay,
        seats: u32,
        key: &str,
    ) -> Result<DayView> {
        let (by, now, key) = (by.clone(), self.now(), key.to_owned());
        let code = office.code.clone();
        self.change_day(office, date, move |conn, _| {
            Box::pin(async move {
                let Some((before, after)) =
                    ledger::add_capacity_once(conn, &key, &code, date, session, seats, now).await?
                else {
                    return Ok(());
                };
                ledger::audit(conn, &by, now, &code, date, "ADD_CAPACITY", (serde_json::json!({"session": session.as_str(), "capacity": before}), serde_json::json!({"session": session.as_str(), "capacity": after, "key": key})))
                .await
            })
        })
        .await?;
        self.day_view_anyway(office, date).await
    }

    /// Capacity and confirmed seats per office and date in `[from, to]` (`office` empty: all).
    pub async fn capacity_report(
        &self,
        office: &str,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<(String, NaiveDate, u32, u32, bool)>> {
        let (days, holidays) = tokio::try_join!(
            ledger::capacity_report(&self.pool, office, from, to),
            ledger::holidays(&self.pool, from, to)
        )?;
        let days: HashMap<(&str, NaiveDate), &ledger::MaterialisedDay> = days
            .iter()
            .map(|d| ((d.office.as_str(), d.date), d))
            .collect();
        let mut out = Vec::new();
        for o in self
            .offices
            .all()
            .iter()
            .filter(|o| office.is_empty() || o.code == office)
        {
            for date in from.iter_days().take_while(|d| *d <= to) {
                let day = days.get(&(o.code.as_str(), date));
                let rule = day_rule(
                    date,
                    holidays.get(&date).map(String::as_str),
                    day.and_then(|d| d.override_.map(|v| (v, d.note.as_str()))),
                );
                let open = matches!(rule, DayRule::Open { .. });
                // Seats offered: the ledger's once the day has rows, else the office's
                // defaults; none on a closed date.
                let capacity = match (open, day) {
                    (false, _) => 0,
                    (true, Some(d)) => d.capacity,
                    (true, None) => o.pagi.default_capacity + o.siang.default_capacity,
                };
                let confirmed = day.map_or(0, |d| d.confirmed);
                out.push((o.code.clone(), date, capacity, confirmed, open));
            }
        }
        Ok(out)
    }

    /// Closes a date for new holds. Existing bookings stay; answers their confirmed seats.
    pub async fn close_date(
        &self,
        by: &Actor,
        office: &Office,
        date: NaiveDate,
        reason: &str,
    ) -> Result<(DayView, u32)> {
        let (by, now) = (by.clone(), self.now());
        let code = office.code.clone();
        let note = reason.trim().to_owned();
        self.change_day(office, date, move |conn, row| {
            Box::pin(async move {
                ledger::set_day_override(conn, &code, date, "CLOSED", &note).await?;
                ledger::audit(conn, &by, now, &code, date, "CLOSE_DATE", (serde_json::json!({"override": row.override_.map(|o| format!("{o:?}")), "note": row.note}), serde_json::json!({"override": "CLOSED", "note": note})))
                .await
            })
        })
        .await?;
        let confirmed = ledger::confirmed_seats(&self.pool, &office.code, date).await?;
        Ok((self.day_view_anyway(office, date).await?, confirmed as u32))
    }

    /// Opens a special-event day (or reopens a closed one) with its own capacity.
    pub async fn open_special(
        &self,
        by: &Actor,
        office: &Office,
        date: NaiveDate,
        name: &str,
        capacity: [u32; 2],
    ) -> Result<DayView> {
        let (by, now) = (by.clone(), self.now());
        let code = office.code.clone();
        let note = name.trim().to_owned();
        self.change_day(office, date, move |conn, row| {
            Box::pin(async move {
                ledger::set_day_override(conn, &code, date, "SPECIAL", &note).await?;
                for s in SessionOfDay::ALL {
                    let seats = crate::counters::of(&capacity, s);
                    ledger::set_session_capacity(conn, &code, date, s, seats).await?;
                }
                ledger::audit(conn, &by, now, &code, date, "OPEN_SPECIAL_DATE", (serde_json::json!({"override": row.override_.map(|o| format!("{o:?}")), "note": row.note}), serde_json::json!({"override": "SPECIAL", "note": note,
                                       "pagi": capacity[0], "siang": capacity[1]})))
                .await
            })
        })
        .await?;
        self.day_view_anyway(office, date).await
    }

    /// A day's view even outside the horizon (for staff answers).
    async fn day_view_anyway(&self, office: &Office, date: NaiveDate) -> Result<DayView> {
        let v = self.day_view(office, date).await?;
        if v.closed_reason != Some(ClosedReason::OutsideHorizon) {
            return Ok(v);
        }
        let c = self.day(office, date).await?;
        Ok(DayView {
            open: c.open,
            closed_reason: ClosedReason::from_code(&c.reason),
            note: c.note.clone(),
            special: c.special,
            sessions: SessionOfDay::ALL
                .iter()
                .map(|&s| SessionView {
                    session: s,
                    capacity: crate::counters::of(&c.capacity, s),
                    remaining: c.remaining(s),
                    confirmed: crate::counters::of(&c.confirmed, s),
                    held: c.held(s),
                    start: office.hours(s).start,
                    end: office.hours(s).end,
                })
                .collect(),
            ..v
        })
    }
}

/// Redis keeps milliseconds; answers carry the same instant on every retry.
fn truncate_ms(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(t.timestamp_millis()).unwrap_or(t)
}

/// The answer to a retried hold, from its ledger row.
fn answer_from_row(
    row: &HoldRow,
    day: &DayKey,
    session: SessionOfDay,
    seats: u32,
    now: DateTime<Utc>,
) -> Result<HoldAnswer> {
    if row.office_code != day.office
        || row.date != day.date
        || row.session() != session
        || row.seats as u32 != seats
    {
        return Err(QuotaError::HoldIdReused);
    }
    match row.state {
        HoldState::Expired => Err(QuotaError::HoldExpired),
        HoldState::Released => Err(QuotaError::HoldReleased),
        HoldState::Held if row.expires_at <= now => Err(QuotaError::HoldExpired),
        _ => Ok(HoldAnswer {
            hold_id: row.hold_id.clone(),
            remaining: row.remaining_after.max(0) as u32,
            expires_at: truncate_ms(row.expires_at),
        }),
    }
}

/// Runs [`Quota::sweep`] every `seconds` until aborted.
pub fn spawn_sweeper(quota: Arc<Quota>, seconds: u64) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(seconds.max(1)));
        loop {
            tick.tick().await;
            match quota.sweep().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(expired = n, "expired holds swept"),
                Err(e) => tracing::warn!(error = %e, "hold sweep failed"),
            }
        }
    })
}
