//! The PostgreSQL side of the quota: the authority on capacity, confirmed seats and holds.
//!
//! Two rules keep it from ever overselling, whatever happens to Redis:
//! - Commit is a conditional update of `session_quota.confirmed` (see [`commit_hold`]).
//! - A hold admitted by Redis is recorded only if the day's `epoch` still equals the epoch of
//!   the counters that admitted it (see [`insert_hold`]); every rebuild of the counters bumps
//!   the epoch under a row lock, so an admission by counters that have since been lost and
//!   rebuilt is refused and retried against the new counters.
use crate::calendar::{DayRule, Override, day_rule};
use crate::counters::HoldRecord;
use crate::office::{Office, SessionHours};
use antrean_platform::actor::Actor;
use antrean_platform::domain::SessionOfDay;
use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{FromRow, PgConnection, PgPool};

/// Where a hold is in its life, in the ledger (`holds.state`) and in Redis (one letter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HoldState {
    /// Seats taken until it expires, unless committed or released first.
    Held,
    /// The booking was confirmed: the seats stay taken.
    Committed,
    /// Given back (a cancellation, a failed booking).
    Released,
    /// Not committed in time.
    Expired,
}

impl HoldState {
    pub const ALL: [HoldState; 4] = [Self::Held, Self::Committed, Self::Released, Self::Expired];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Held => "HELD",
            Self::Committed => "COMMITTED",
            Self::Released => "RELEASED",
            Self::Expired => "EXPIRED",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// The letter of a hold record in Redis (the Lua scripts write the same).
    pub fn letter(self) -> char {
        match self {
            Self::Held => 'H',
            Self::Committed => 'C',
            Self::Released => 'R',
            Self::Expired => 'X',
        }
    }

    pub fn from_letter(c: char) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.letter() == c)
    }
}

antrean_platform::sqlx_text_enum!(HoldState);

#[derive(Debug, Clone, FromRow)]
pub struct HoldRow {
    pub hold_id: String,
    pub office_code: String,
    pub date: NaiveDate,
    pub session: String,
    pub seats: i32,
    pub expires_at: DateTime<Utc>,
    pub remaining_after: i32,
    pub admitted_capacity: i32,
    pub state: HoldState,
}

impl HoldRow {
    #[allow(
        clippy::expect_used,
        reason = "the schema's CHECK admits only PAGI and SIANG"
    )]
    pub fn session(&self) -> SessionOfDay {
        self.session.parse().expect("session checked by the schema")
    }
}

impl From<NewHold> for HoldRow {
    /// The row `hold` became when the ledger took it.
    fn from(hold: NewHold) -> Self {
        Self {
            hold_id: hold.hold_id,
            office_code: hold.office_code,
            date: hold.date,
            session: hold.session.as_str().to_owned(),
            seats: hold.seats as i32,
            expires_at: hold.expires_at,
            remaining_after: hold.remaining_after as i32,
            admitted_capacity: hold.admitted_capacity as i32,
            state: HoldState::Held,
        }
    }
}

/// A hold Redis admitted, on its way into the ledger, with the epoch of the counters that
/// admitted it.
#[derive(Debug, Clone)]
pub struct NewHold {
    pub hold_id: String,
    pub office_code: String,
    pub date: NaiveDate,
    pub session: SessionOfDay,
    pub seats: u32,
    pub expires_at: DateTime<Utc>,
    pub remaining_after: u32,
    pub admitted_capacity: u32,
    pub epoch: i64,
}

#[derive(Debug)]
pub enum InsertHold {
    Inserted,
    /// The counters that admitted the hold are not the current generation.
    EpochMismatch {
        ledger_epoch: i64,
    },
    /// The hold id is already in the ledger.
    Conflict(HoldRow),
}

/// A day's row, locked.
#[derive(Debug, Clone)]
pub struct DayRow {
    pub override_: Option<Override>,
    pub note: String,
    pub epoch: i64,
}

/// What the ledger says about one day, before live holds.
#[derive(Debug, Clone)]
pub struct DayPlan {
    pub rule: DayRule,
    pub capacity: [u32; 2],
    pub confirmed: [u32; 2],
}

pub async fn load_offices(pool: &PgPool) -> sqlx::Result<Vec<Office>> {
    let rows = sqlx::query!(
        "SELECT code, name, city, timezone, address, wa_display_number, wa_phone_number_id,
                pagi_start, pagi_end, siang_start, siang_end, pagi_capacity, siang_capacity
         FROM offices ORDER BY code"
    )
    .fetch_all(pool)
    .await?;
    rows.into_iter()
        .map(|r| {
            let tz_name: String = r.timezone;
            Ok(Office {
                code: r.code,
                name: r.name,
                city: r.city,
                tz: tz_name
                    .parse()
                    .map_err(|_| sqlx::Error::Decode(format!("time zone {tz_name}").into()))?,
                address: r.address,
                wa_display_number: r.wa_display_number,
                wa_phone_number_id: r.wa_phone_number_id,
                pagi: SessionHours {
                    start: r.pagi_start,
                    end: r.pagi_end,
                    default_capacity: r.pagi_capacity as u32,
                },
                siang: SessionHours {
                    start: r.siang_start,
                    end: r.siang_end,
                    default_capacity: r.siang_capacity as u32,
                },
            })
        })
        .collect()
}

/// Creates the day's rows when missing and locks the day row (FOR UPDATE): builds of the
/// counters and calendar changes of one day happen one at a time.
pub async fn lock_day(
    conn: &mut PgConnection,
    office: &Office,
    date: NaiveDate,
) -> sqlx::Result<DayRow> {
    sqlx::query!(
        "INSERT INTO quota_days (office_code, date) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        &office.code,
        date
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        "INSERT INTO session_quota (office_code, date, session, capacity)
         VALUES ($1, $2, 'PAGI', $3), ($1, $2, 'SIANG', $4) ON CONFLICT DO NOTHING",
        &office.code,
        date,
        office.pagi.default_capacity as i32,
        office.siang.default_capacity as i32
    )
    .execute(&mut *conn)
    .await?;
    let r = sqlx::query!(
        "SELECT override AS override_, note, epoch FROM quota_days
         WHERE office_code = $1 AND date = $2 FOR UPDATE",
        &office.code,
        date
    )
    .fetch_one(&mut *conn)
    .await?;
    let override_: Option<String> = r.override_;
    Ok(DayRow {
        override_: override_.as_deref().map(Override::from_column),
        note: r.note,
        epoch: r.epoch,
    })
}

/// What a rebuild of a day's counters reads of the ledger, under the day's row lock and with
/// the day's epoch already bumped.
#[derive(Debug, Clone)]
pub struct DayForBuild {
    pub plan: DayPlan,
    /// The epoch the new counters carry.
    pub epoch: i64,
    /// Held (not yet expired) and committed holds, as Redis records them.
    pub holds: Vec<(String, HoldRecord)>,
}

/// Locks the day's row (creating it and its sessions when missing), bumps its epoch and reads
/// what its counters are built from, in two statements: the day row with its holiday, then
/// the sessions' capacity and confirmed seats together with the live holds, from one
/// snapshot, so a commit between the two cannot count a hold as committed in the holds and
/// not in the confirmed seats.
pub async fn day_for_build(
    conn: &mut PgConnection,
    office: &Office,
    date: NaiveDate,
    now: DateTime<Utc>,
) -> sqlx::Result<DayForBuild> {
    let day = sqlx::query!("INSERT INTO quota_days (office_code, date, epoch) VALUES ($1, $2, 1)
         ON CONFLICT (office_code, date) DO UPDATE SET epoch = quota_days.epoch + 1
         RETURNING override AS override_, note, epoch, (SELECT name FROM holidays WHERE date = $2) AS holiday", &office.code, date)
    .fetch_one(&mut *conn)
    .await?;
    let override_: Option<String> = day.override_;
    let note: String = day.note;
    let holiday: Option<String> = day.holiday;
    let rule = day_rule(
        date,
        holiday.as_deref(),
        override_
            .as_deref()
            .map(|o| (Override::from_column(o), note.as_str())),
    );
    let rows: Vec<BuildRow> = sqlx::query_as!(
        BuildRow,
        r#"WITH ins AS (
            INSERT INTO session_quota (office_code, date, session, capacity)
            VALUES ($1, $2, 'PAGI', $3), ($1, $2, 'SIANG', $4) ON CONFLICT DO NOTHING
            RETURNING session, capacity, confirmed)
         SELECT session AS "session!", capacity, confirmed, NULL::text AS hold_id,
                NULL::int AS seats, NULL::timestamptz AS expires_at,
                NULL::int AS remaining_after, NULL::text AS "state?: HoldState"
           FROM ins
         UNION ALL
         SELECT session, capacity, confirmed, NULL, NULL, NULL, NULL, NULL FROM session_quota
          WHERE office_code = $1 AND date = $2 AND session NOT IN (SELECT session FROM ins)
         UNION ALL
         SELECT session, NULL, NULL, hold_id, seats, expires_at, remaining_after, state
           FROM holds
          WHERE office_code = $1 AND date = $2
            AND (state = 'COMMITTED' OR (state = 'HELD' AND expires_at > $5))"#,
        &office.code,
        date,
        office.pagi.default_capacity as i32,
        office.siang.default_capacity as i32,
        now
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut capacity = [0; 2];
    let mut confirmed = [0; 2];
    let mut holds = Vec::new();
    for r in rows {
        #[allow(
            clippy::expect_used,
            reason = "the schema's CHECK admits only PAGI and SIANG"
        )]
        let session: SessionOfDay = r.session.parse().expect("session checked by the schema");
        match r.hold_id {
            None => {
                *crate::counters::of_mut(&mut capacity, session) =
                    r.capacity.unwrap_or(0).max(0) as u32;
                *crate::counters::of_mut(&mut confirmed, session) =
                    r.confirmed.unwrap_or(0).max(0) as u32;
            }
            Some(id) => {
                let rec = HoldRecord {
                    session,
                    seats: r.seats.unwrap_or(0).max(0) as u32,
                    expires_ms: r.expires_at.map_or(0, |t| t.timestamp_millis()),
                    remaining_after: r.remaining_after.unwrap_or(0).max(0) as u32,
                    state: if r.state == Some(HoldState::Committed) {
                        HoldState::Committed
                    } else {
                        HoldState::Held
                    },
                };
                holds.push((id, rec));
            }
        }
    }
    Ok(DayForBuild {
        plan: DayPlan {
            rule,
            capacity,
            confirmed,
        },
        epoch: day.epoch,
        holds,
    })
}

/// A row of [`day_for_build`]'s second statement: a session (no hold id) or a live hold.
#[derive(FromRow)]
struct BuildRow {
    session: String,
    capacity: Option<i32>,
    confirmed: Option<i32>,
    hold_id: Option<String>,
    seats: Option<i32>,
    expires_at: Option<DateTime<Utc>>,
    remaining_after: Option<i32>,
    state: Option<HoldState>,
}

/// Records a hold Redis admitted, if the counters that admitted it are still current.
pub async fn insert_hold(pool: &PgPool, h: &NewHold) -> sqlx::Result<InsertHold> {
    let mut outcomes = insert_holds(pool, std::slice::from_ref(h)).await?;
    outcomes.pop().ok_or(sqlx::Error::RowNotFound)
}

/// Records admitted holds, each exactly as it would be alone: a hold whose day's epoch moved
/// on gets `EpochMismatch`, a hold id already in the ledger gets `Conflict` with that row, the
/// rest are inserted. One statement, so one round trip and one commit however many holds:
/// it locks each day's row `FOR SHARE` (admissions record concurrently, but never while a
/// rebuild holds the day, and a rebuild that went first shows its new epoch), inserts the
/// holds whose epoch is current and answers every hold's day epoch and whether it went in.
pub async fn insert_holds(pool: &PgPool, holds: &[NewHold]) -> sqlx::Result<Vec<InsertHold>> {
    let column = |f: fn(&NewHold) -> i32| holds.iter().map(f).collect::<Vec<_>>();
    let answered: Vec<(String, i64, bool)> = sqlx::query!(
        r#"WITH t AS (
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::date[], $4::text[], $5::int[],
                                  $6::timestamptz[], $7::int[], $8::int[], $9::bigint[])
                      WITH ORDINALITY AS t(h, o, d, s, n, e, r, c, ep, i)
         ), day AS (
             SELECT office_code, date, epoch FROM quota_days
              WHERE (office_code, date) IN (SELECT o, d FROM t)
                FOR SHARE
         ), ins AS (
             INSERT INTO holds (hold_id, office_code, date, session, seats, expires_at,
                                remaining_after, admitted_capacity, state)
             SELECT t.h, t.o, t.d, t.s, t.n, t.e, t.r, t.c, 'HELD'
               FROM t JOIN day ON day.office_code = t.o AND day.date = t.d AND day.epoch = t.ep
             ON CONFLICT (hold_id) DO NOTHING
             RETURNING hold_id
         )
         SELECT t.h AS "hold_id!", day.epoch AS "epoch!",
                EXISTS (SELECT 1 FROM ins WHERE ins.hold_id = t.h) AS "inserted!"
           FROM t JOIN day ON day.office_code = t.o AND day.date = t.d
          ORDER BY t.i"#,
        holds.iter().map(|h| h.hold_id.as_str()).collect::<Vec<_>>() as _,
        holds
            .iter()
            .map(|h| h.office_code.as_str())
            .collect::<Vec<_>>() as _,
        holds.iter().map(|h| h.date).collect::<Vec<_>>() as _,
        holds.iter().map(|h| h.session.as_str()).collect::<Vec<_>>() as _,
        &column(|h| h.seats as i32),
        holds.iter().map(|h| h.expires_at).collect::<Vec<_>>() as _,
        &column(|h| h.remaining_after as i32),
        &column(|h| h.admitted_capacity as i32),
        holds.iter().map(|h| h.epoch).collect::<Vec<_>>() as _
    )
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(|r| (r.hold_id, r.epoch, r.inserted))
    .collect();
    // Every hold's day has a row (the counters that admitted it were built from it).
    if answered.len() != holds.len() {
        return Err(sqlx::Error::RowNotFound);
    }
    let mut outcomes = Vec::with_capacity(holds.len());
    let mut seen = std::collections::HashSet::with_capacity(holds.len());
    for (h, (id, ledger_epoch, inserted)) in holds.iter().zip(answered) {
        debug_assert_eq!(h.hold_id, id);
        // A hold id twice in one call went in once: the first of them.
        let first = seen.insert(h.hold_id.as_str());
        outcomes.push(if ledger_epoch != h.epoch {
            InsertHold::EpochMismatch { ledger_epoch }
        } else if inserted && first {
            InsertHold::Inserted
        } else {
            let existing = get_hold(&mut *pool.acquire().await?, &h.hold_id)
                .await?
                .ok_or(sqlx::Error::RowNotFound)?;
            InsertHold::Conflict(existing)
        });
    }
    Ok(outcomes)
}

pub async fn get_hold(conn: &mut PgConnection, hold_id: &str) -> sqlx::Result<Option<HoldRow>> {
    sqlx::query_as!(HoldRow, r#"SELECT hold_id, office_code, date, session, seats, expires_at, remaining_after, admitted_capacity, state AS "state: HoldState" FROM holds WHERE hold_id = $1"#, hold_id)
        .fetch_optional(conn)
        .await
}

#[derive(Debug)]
pub enum CommitHold {
    /// Committed now or before: the hold as it is now, with the session's capacity.
    Committed {
        hold: HoldRow,
        capacity: u32,
    },
    /// Confirmed seats would exceed capacity.
    CapacityExceeded,
    Expired,
    Released,
}

/// Turns a held hold into confirmed seats, conditional on capacity. `held` is the hold as
/// read before (its office, date, session, seats and admitted capacity never change).
///
/// A hold still held and live is committed by one statement on its own: it locks the hold
/// only if it is still HELD and unexpired, confirms the seats if they fit, and marks the
/// hold COMMITTED, or RELEASED when they do not. Any other hold (committed before, released,
/// expired, or changed meanwhile) takes the transaction that looks at its state first.
pub async fn commit_hold(
    pool: &PgPool,
    held: &HoldRow,
    now: DateTime<Utc>,
) -> sqlx::Result<CommitHold> {
    // The connection goes back to the pool before the transaction takes one.
    let done = commit_live(&mut *pool.acquire().await?, held, now).await?;
    match done {
        Some(done) => Ok(committed_or_not(done)),
        None => commit_hold_by_state(pool, &held.hold_id, now).await,
    }
}

/// The one statement of a commit: confirms `held`'s seats if they fit and marks it
/// COMMITTED (RELEASED when they do not), if it is still HELD and live at `now`; it locks the
/// hold first. Nothing, when the hold is not. A capacity lowered after the hold was admitted
/// does not refuse it (lowering only stops new holds).
async fn commit_live(
    conn: &mut PgConnection,
    held: &HoldRow,
    now: DateTime<Utc>,
) -> sqlx::Result<Option<Committing>> {
    let done = sqlx::query!(
        r#"WITH h AS (
            SELECT hold_id FROM holds
            WHERE hold_id = $6 AND state = 'HELD' AND expires_at > $7 FOR UPDATE),
         seats AS (
            UPDATE session_quota SET confirmed = confirmed + $4
            WHERE office_code = $1 AND date = $2 AND session = $3
              AND confirmed + $4 <= GREATEST(capacity, $5)
              AND EXISTS (SELECT 1 FROM h)
            RETURNING capacity),
         hold AS (
            UPDATE holds
            SET state = CASE WHEN EXISTS (SELECT 1 FROM seats) THEN 'COMMITTED' ELSE 'RELEASED' END,
                updated_at = now()
            WHERE hold_id IN (SELECT hold_id FROM h) RETURNING *)
         SELECT (SELECT capacity FROM seats) AS capacity, hold_id AS "hold_id!",
                office_code AS "office_code!", date AS "date!", session AS "session!",
                seats AS "seats!", expires_at AS "expires_at!",
                remaining_after AS "remaining_after!", admitted_capacity AS "admitted_capacity!",
                state AS "state!: HoldState"
           FROM hold"#,
        &held.office_code,
        held.date,
        &held.session,
        held.seats,
        held.admitted_capacity,
        &held.hold_id,
        now
    )
    .fetch_optional(conn)
    .await?;
    Ok(done.map(|r| Committing {
        capacity: r.capacity,
        hold: HoldRow {
            hold_id: r.hold_id,
            office_code: r.office_code,
            date: r.date,
            session: r.session,
            seats: r.seats,
            expires_at: r.expires_at,
            remaining_after: r.remaining_after,
            admitted_capacity: r.admitted_capacity,
            state: r.state,
        },
    }))
}

fn committed_or_not(done: Committing) -> CommitHold {
    match done.capacity {
        Some(cap) => CommitHold::Committed {
            hold: done.hold,
            capacity: cap as u32,
        },
        None => CommitHold::CapacityExceeded,
    }
}

/// [`commit_hold`] for a hold that was not held and live when the one statement ran: one
/// transaction under the hold's row lock, by its state.
async fn commit_hold_by_state(
    pool: &PgPool,
    hold_id: &str,
    now: DateTime<Utc>,
) -> sqlx::Result<CommitHold> {
    let mut tx = pool.begin().await?;
    let h: HoldRow = sqlx::query_as!(HoldRow, r#"SELECT hold_id, office_code, date, session, seats, expires_at, remaining_after, admitted_capacity, state AS "state: HoldState" FROM holds WHERE hold_id = $1 FOR UPDATE"#, hold_id)
        .fetch_one(&mut *tx)
        .await?;
    let capacity = || async {
        sqlx::query_scalar!(
            "SELECT capacity FROM session_quota WHERE office_code = $1 AND date = $2 AND session = $3",
            &h.office_code,
            h.date,
            &h.session
        )
        .fetch_one(pool)
        .await
    };
    match h.state {
        HoldState::Committed => {
            drop(tx);
            return Ok(CommitHold::Committed {
                capacity: capacity().await? as u32,
                hold: h,
            });
        }
        HoldState::Released => return Ok(CommitHold::Released),
        HoldState::Expired => return Ok(CommitHold::Expired),
        HoldState::Held => {}
    }
    if h.expires_at <= now {
        set_state(&mut tx, hold_id, HoldState::Expired).await?;
        tx.commit().await?;
        return Ok(CommitHold::Expired);
    }
    // Held and live under the lock: the same statement commits it.
    let done = commit_live(&mut tx, &h, now)
        .await?
        .ok_or(sqlx::Error::RowNotFound)?;
    tx.commit().await?;
    Ok(committed_or_not(done))
}

/// The commit statement's answer: the session's capacity when the seats were confirmed.
struct Committing {
    capacity: Option<i32>,
    hold: HoldRow,
}

/// Gives back a held or committed hold in the ledger. Answers the hold as it is afterwards
/// and whether this call changed it.
pub async fn release_hold(pool: &PgPool, hold_id: &str) -> sqlx::Result<Option<(HoldRow, bool)>> {
    let mut tx = pool.begin().await?;
    let Some(h): Option<HoldRow> =
        sqlx::query_as!(HoldRow, r#"SELECT hold_id, office_code, date, session, seats, expires_at, remaining_after, admitted_capacity, state AS "state: HoldState" FROM holds WHERE hold_id = $1 FOR UPDATE"#, hold_id)
            .fetch_optional(&mut *tx)
            .await?
    else {
        return Ok(None);
    };
    let changed = match h.state {
        HoldState::Committed => {
            sqlx::query!(
                "UPDATE session_quota SET confirmed = confirmed - $4
                 WHERE office_code = $1 AND date = $2 AND session = $3",
                &h.office_code,
                h.date,
                &h.session,
                h.seats
            )
            .execute(&mut *tx)
            .await?;
            true
        }
        HoldState::Held => true,
        HoldState::Released | HoldState::Expired => false,
    };
    if changed {
        set_state(&mut tx, hold_id, HoldState::Released).await?;
    }
    tx.commit().await?;
    Ok(Some((h, changed)))
}

async fn set_state(conn: &mut PgConnection, hold_id: &str, state: HoldState) -> sqlx::Result<()> {
    sqlx::query!(
        "UPDATE holds SET state = $2, updated_at = now() WHERE hold_id = $1",
        hold_id,
        state.as_str()
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Marks held holds past their expiry as EXPIRED and answers them.
pub async fn expire_due(pool: &PgPool, now: DateTime<Utc>) -> sqlx::Result<Vec<HoldRow>> {
    sqlx::query_as!(HoldRow, r#"UPDATE holds SET state = 'EXPIRED', updated_at = now()
         WHERE state = 'HELD' AND expires_at <= $1 RETURNING hold_id, office_code, date, session, seats, expires_at, remaining_after, admitted_capacity, state AS "state: HoldState""#, now)
    .fetch_all(pool)
    .await
}

/// Writes the audit row of a calendar or capacity change.
pub async fn audit(
    conn: &mut PgConnection,
    by: &Actor,
    at: chrono::DateTime<chrono::Utc>,
    office_code: &str,
    date: NaiveDate,
    action: &str,
    (before, after): (serde_json::Value, serde_json::Value),
) -> sqlx::Result<()> {
    antrean_platform::audit::record(
        conn,
        antrean_platform::audit::Action {
            actor: by,
            action,
            office_code,
            target: &format!("{office_code} {date}"),
            before: Some(before),
            after: Some(after),
            at,
        },
    )
    .await
}

// ---- Staff changes to capacity, the calendar and releases ------------------------------

/// Sets one session's capacity; answers the capacity before.
pub async fn set_session_capacity(
    conn: &mut PgConnection,
    office: &str,
    date: NaiveDate,
    session: SessionOfDay,
    capacity: u32,
) -> sqlx::Result<i32> {
    sqlx::query_scalar!(
        "UPDATE session_quota s SET capacity = $4
         FROM (SELECT capacity FROM session_quota
               WHERE office_code = $1 AND date = $2 AND session = $3 FOR UPDATE) before
         WHERE s.office_code = $1 AND s.date = $2 AND s.session = $3
         RETURNING before.capacity",
        office,
        date,
        session.as_str(),
        capacity as i32
    )
    .fetch_one(conn)
    .await
}

/// Adds `seats` to one session's capacity once per `key`: the capacity before and after, or
/// `None` if `key` was done before.
pub async fn add_capacity_once(
    conn: &mut PgConnection,
    key: &str,
    office: &str,
    date: NaiveDate,
    session: SessionOfDay,
    seats: u32,
    now: DateTime<Utc>,
) -> sqlx::Result<Option<(i32, i32)>> {
    let fresh = sqlx::query!(
        "INSERT INTO capacity_additions (idempotency_key, office_code, date, session, seats, at)
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        key,
        office,
        date,
        session.as_str(),
        seats as i32,
        now
    )
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1;
    if !fresh {
        return Ok(None);
    }
    let r = sqlx::query!(
        r#"UPDATE session_quota SET capacity = capacity + $4
         WHERE office_code = $1 AND date = $2 AND session = $3
         RETURNING capacity - $4 AS "before!", capacity"#,
        office,
        date,
        session.as_str(),
        seats as i32
    )
    .fetch_one(conn)
    .await?;
    Ok(Some((r.before, r.capacity)))
}

/// Marks a date `CLOSED` or `SPECIAL`, with its note.
pub async fn set_day_override(
    conn: &mut PgConnection,
    office: &str,
    date: NaiveDate,
    override_: &str,
    note: &str,
) -> sqlx::Result<()> {
    sqlx::query!(
        "UPDATE quota_days SET override = $3, note = $4 WHERE office_code = $1 AND date = $2",
        office,
        date,
        override_,
        note
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// The seats confirmed on a date, both sessions.
pub async fn confirmed_seats(pool: &PgPool, office: &str, date: NaiveDate) -> sqlx::Result<u32> {
    let n: i64 = sqlx::query_scalar!(r#"SELECT COALESCE(SUM(confirmed), 0) AS "n!" FROM session_quota WHERE office_code = $1 AND date = $2"#, office, date)
    .fetch_one(pool)
    .await?;
    Ok(u32::try_from(n).unwrap_or(0))
}

/// Capacity and confirmed seats per office and date in `[from, to]` (`office` empty: all),
/// and whether the date is open.
pub async fn capacity_report(
    pool: &PgPool,
    office: &str,
    from: NaiveDate,
    to: NaiveDate,
) -> sqlx::Result<Vec<MaterialisedDay>> {
    Ok(sqlx::query!(
        r#"SELECT d.office_code, d.date, d.override AS override_, d.note,
                s.capacity AS "capacity?", s.confirmed AS "confirmed?"
         FROM quota_days d
         LEFT JOIN (SELECT office_code, date, SUM(capacity)::bigint AS capacity,
                           SUM(confirmed)::bigint AS confirmed
                      FROM session_quota
                     WHERE ($1 = '' OR office_code = $1) AND date BETWEEN $2 AND $3
                     GROUP BY office_code, date) s USING (office_code, date)
         WHERE ($1 = '' OR d.office_code = $1) AND d.date BETWEEN $2 AND $3"#,
        office,
        from,
        to
    )
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(|r| MaterialisedDay {
        office: r.office_code,
        date: r.date,
        override_: r.override_.as_deref().map(Override::from_column),
        note: r.note,
        capacity: r.capacity.unwrap_or(0).max(0) as u32,
        confirmed: r.confirmed.unwrap_or(0).max(0) as u32,
    })
    .collect())
}

/// A day the ledger holds rows for: its override and its sessions' seats together.
#[derive(Debug, Clone)]
pub struct MaterialisedDay {
    pub office: String,
    pub date: NaiveDate,
    pub override_: Option<Override>,
    pub note: String,
    pub capacity: u32,
    pub confirmed: u32,
}

/// The national holidays in `[from, to]`, by date.
pub async fn holidays(
    pool: &PgPool,
    from: NaiveDate,
    to: NaiveDate,
) -> sqlx::Result<std::collections::HashMap<NaiveDate, String>> {
    Ok(sqlx::query!(
        "SELECT date, name FROM holidays WHERE date BETWEEN $1 AND $2",
        from,
        to
    )
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(|r| (r.date, r.name))
    .collect())
}

/// An office's release rule.
pub async fn set_release_rule(
    conn: &mut PgConnection,
    office: &str,
    rule: &crate::releases::Rule,
) -> sqlx::Result<()> {
    sqlx::query!(
        "INSERT INTO release_rules (office_code, release_local, draw_window_seconds)
         VALUES ($1, $2, $3)
         ON CONFLICT (office_code) DO UPDATE
         SET release_local = EXCLUDED.release_local,
             draw_window_seconds = EXCLUDED.draw_window_seconds",
        office,
        rule.release_local,
        rule.draw_window_seconds
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// One date opened at `opens_at` with its own draw window.
pub async fn schedule_release(
    conn: &mut PgConnection,
    office: &str,
    date: NaiveDate,
    opens_at: DateTime<Utc>,
    draw_window_seconds: u32,
) -> sqlx::Result<()> {
    sqlx::query!(
        "INSERT INTO scheduled_releases (office_code, date, opens_at, draw_window_seconds)
         VALUES ($1, $2, $3, $4)
         ON CONFLICT (office_code, date) DO UPDATE
         SET opens_at = EXCLUDED.opens_at, draw_window_seconds = EXCLUDED.draw_window_seconds",
        office,
        date,
        opens_at,
        draw_window_seconds as i32
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Every office's release rule that differs from the default.
pub async fn release_rules(pool: &PgPool) -> sqlx::Result<Vec<crate::releases::RuleRow>> {
    Ok(
        sqlx::query!("SELECT office_code, release_local, draw_window_seconds FROM release_rules")
            .fetch_all(pool)
            .await?
            .into_iter()
            .map(|r| crate::releases::RuleRow {
                office_code: r.office_code,
                rule: crate::releases::Rule {
                    release_local: r.release_local,
                    draw_window_seconds: r.draw_window_seconds,
                },
            })
            .collect(),
    )
}

/// The dates opened on their own schedule, from `since`.
pub async fn scheduled_releases(
    pool: &PgPool,
    since: NaiveDate,
) -> sqlx::Result<Vec<crate::releases::ScheduledRow>> {
    sqlx::query_as!(
        crate::releases::ScheduledRow,
        "SELECT office_code, date, opens_at, draw_window_seconds FROM scheduled_releases
         WHERE date >= $1",
        since
    )
    .fetch_all(pool)
    .await
}
