//! The release draw: when a date opens, speed decides nothing.
//!
//! Inside a date's draw window the quota refuses ordinary holds (`DRAW_OPEN`), and
//! [`Bookings::create`] turns the request into an entry ([`Bookings::enter_draw`]): one per
//! contact and per person, after the usual rules (no-show blocks, one active booking per
//! person). When the window closes, one replica at a time ([`Bookings::run_draw`], under a
//! lease on the draw's row) freezes the entry list, fetches the beacon's randomness of the
//! round named in advance, orders the entries with `antrean_platform::draw::order` and admits
//! them in that order through the ordinary create and confirm, with `draw_admission` holds
//! and the idempotency key `draw:{entry_id}`: a crash or a second replica mid-draw replays
//! the same bookings and admits nobody twice. Whole groups only; a group that no longer fits
//! is waitlisted while smaller ones behind it may still win. Entries that do not win join
//! the session's waitlist in drawn order. Every entrant gets exactly one outcome message
//! (idempotency key `draw:{entry_id}:outcome`, through the outbox).
use crate::bookings::{BookingView, Bookings};
use crate::error::{BookingError, Result};
use crate::status::BookingStatus;
use antrean_platform::domain::{
    SessionOfDay, format_date, from_timestamp, local_hhmm, parse_date, tanggal, to_timestamp,
};
use antrean_platform::status::Reason;
use antrean_platform::status::{self, FieldViolation};
use antrean_proto::v1 as pb;
use chrono::{DateTime, NaiveDate, Utc};
use futures::StreamExt;
use rand::Rng;
use sqlx::FromRow;
use std::collections::HashMap;
use tonic::Code;
use uuid::Uuid;

/// How long a replica may run a draw before another may take it over.
const LEASE_SECONDS: i64 = 120;
/// Outcome messages handed to the outbox at once.
const SENDS_AT_ONCE: usize = 64;
/// The list is frozen once no entry has come for this long after the close (a message that
/// failed once is retried by the gateway after two seconds, so this is longer).
const QUIET_SECONDS: f64 = 5.0;

#[derive(Debug, Clone, FromRow)]
pub struct DrawRow {
    pub office_code: String,
    pub date: NaiveDate,
    pub opens_at: DateTime<Utc>,
    pub closes_at: DateTime<Utc>,
    pub seed_enc: Vec<u8>,
    pub seed_sha256: String,
    pub beacon_round: i64,
    pub beacon_randomness: Option<String>,
    pub entries_sha256: Option<String>,
    pub entry_count: Option<i32>,
    pub state: String,
    pub lease_until: Option<DateTime<Utc>>,
    pub drawn_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, FromRow)]
pub struct EntryRow {
    pub id: Uuid,
    pub office_code: String,
    pub date: NaiveDate,
    pub session: String,
    pub seats: i32,
    pub channel: String,
    pub contact_key: String,
    pub request_enc: Vec<u8>,
    pub position: Option<i32>,
    pub outcome: Option<String>,
    pub booking_id: Option<Uuid>,
    pub note: String,
    pub notified: bool,
    pub created_at: DateTime<Utc>,
}

/// An entry as its entrant learns of it.
#[derive(Debug, Clone)]
pub struct EntryView {
    pub entry: EntryRow,
    pub draw_at: DateTime<Utc>,
    pub draw_at_local: String,
}

/// When the channel received `req` (never later than `now`).
fn received_at(req: &pb::CreateBookingRequest, now: DateTime<Utc>) -> DateTime<Utc> {
    req.received_at
        .as_ref()
        .and_then(from_timestamp)
        .filter(|t| *t <= now)
        .unwrap_or(now)
}

/// A hold refused because the draw is running, for a request received inside the window:
/// it still enters (while the list is not frozen).
pub(crate) fn received_in_window(
    req: &pb::CreateBookingRequest,
    refusal: &tonic::Status,
    now: DateTime<Utc>,
) -> bool {
    status::is(refusal, Reason::DrawRunning)
        && status::metadata(refusal)
            .get("closes_at")
            .and_then(|c| DateTime::parse_from_rfc3339(c).ok())
            .is_some_and(|closes| received_at(req, now) < closes)
}

/// The key of a draw's entry lock (see [`Bookings::enter_draw`]).
fn entry_lock(office: &str, date: NaiveDate) -> String {
    format!("draw-entries:{office}:{date}")
}

impl Bookings {
    /// Whether the request's date is inside a draw window this replica has met (the quota
    /// stays the authority: it refuses a hold there anyway).
    pub(crate) fn in_draw_window(&self, req: &pb::CreateBookingRequest) -> bool {
        let Some(date) = parse_date(&req.date) else {
            return false;
        };
        let key = (req.office_code.trim().to_ascii_uppercase(), date);
        let received = received_at(req, self.now());
        self.draw_windows
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&key)
            .is_some_and(|closes| received < *closes)
    }

    /// The first beacon round strictly after `t`: unknown to everyone until after `t`.
    fn beacon_round_after(&self, t: DateTime<Utc>) -> i64 {
        let c = self.config();
        let period = c.draw_beacon_period_seconds.max(1);
        (t.timestamp() - c.draw_beacon_genesis).div_euclid(period) + 2
    }

    /// The draw of a date, created (with its seed) if its release has a draw window.
    pub async fn ensure_draw(&self, office: &str, date: NaiveDate) -> Result<Option<DrawRow>> {
        if let Some(d) = self.draw_row(office, date).await? {
            return Ok(Some(d));
        }
        let release = self
            .quota
            .clone()
            .get_release(pb::GetReleaseRequest {
                office_code: office.to_owned(),
                date: format_date(date),
            })
            .await?
            .into_inner();
        let (Some(opens_at), Some(closes_at)) = (
            release.opens_at.as_ref().and_then(from_timestamp),
            release.draw_closes_at.as_ref().and_then(from_timestamp),
        ) else {
            return Ok(None);
        };
        // Only a release with a draw window that is open or opens within the hour gets a
        // draw: a look-up of any other date creates nothing.
        let now = self.now();
        if closes_at <= opens_at || closes_at <= now || opens_at > now + chrono::Duration::hours(1)
        {
            return Ok(None);
        }
        let seed: [u8; 32] = rand::rng().random();
        sqlx::query!(
            "INSERT INTO draws (office_code, date, opens_at, closes_at, seed_enc, seed_sha256,
                beacon_round, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT (office_code, date) DO NOTHING",
            &release.office_code,
            date,
            opens_at,
            closes_at,
            self.pii.encrypt(&hex::encode(seed)),
            antrean_platform::draw::seed_sha256(&seed),
            self.beacon_round_after(closes_at),
            self.now()
        )
        .execute(self.pool())
        .await?;
        self.draw_row(&release.office_code, date).await
    }

    async fn draw_row(&self, office: &str, date: NaiveDate) -> Result<Option<DrawRow>> {
        Ok(sqlx::query_as!(
            DrawRow,
            "SELECT * FROM draws WHERE office_code = $1 AND date = $2",
            office,
            date
        )
        .fetch_optional(self.pool())
        .await?)
    }

    /// Creates the draws of releases opening within the hour, so each seed's hash is
    /// published before its window opens.
    pub async fn prepare_draws(&self) -> Result<usize> {
        let upcoming = self
            .quota
            .clone()
            .list_upcoming_releases(pb::ListUpcomingReleasesRequest {
                within_seconds: 3600,
            })
            .await?
            .into_inner();
        let mut n = 0;
        for r in upcoming.releases {
            if let Some(date) = parse_date(&r.date)
                && self.draw_row(&r.office_code, date).await?.is_none()
            {
                self.ensure_draw(&r.office_code, date).await?;
                n += 1;
            }
        }
        Ok(n)
    }

    // ---- Entering ------------------------------------------------------------------------

    /// The request as an entry of the date's draw (its window is open: the quota said so).
    pub(crate) async fn enter_draw(&self, req: pb::CreateBookingRequest) -> Result<EntryView> {
        let date = parse_date(&req.date).ok_or_else(|| {
            BookingError::Invalid(vec![FieldViolation::new(
                "date",
                "tanggal harus berformat YYYY-MM-DD",
            )])
        })?;
        let office_code = req.office_code.trim().to_ascii_uppercase();
        let session = SessionOfDay::from_proto(req.session).ok_or_else(|| {
            BookingError::Invalid(vec![FieldViolation::new(
                "session",
                "pilih SESSION_PAGI atau SESSION_SIANG",
            )])
        })?;
        let resolved = self
            .identity
            .clone()
            .resolve_applicants(pb::ResolveApplicantsRequest {
                contact: req.contact.clone(),
                applicants: req.applicants.clone(),
            })
            .await?
            .into_inner();
        let now = self.now();
        crate::bookings::refuse_blocked(&resolved.applicants, now)?;
        let input = req.contact.clone().unwrap_or_default();
        let proven = !input.contact_token.trim().is_empty();
        let contact = resolved.contact.clone().unwrap_or_default();
        let phone = if proven {
            contact.phone.clone()
        } else {
            antrean_platform::phone::normalize(&input.phone).map_err(|(id, en)| {
                BookingError::Invalid(vec![FieldViolation::bilingual("contact.phone", id, en)])
            })?
        };
        let person_keys: Vec<String> = resolved
            .applicants
            .iter()
            .map(|a| a.person_key.clone())
            .collect();
        // One active booking per person, and five people per phone, hold for entrants
        // too: one statement answers a person already booked and the phone's people.
        let contact_id = Uuid::parse_str(&contact.contact_id)
            .map_err(|e| BookingError::Upstream(Box::new(status::internal("contact id", e))))?;
        let (booked, active): (Option<String>, i64) = sqlx::query!(
            r#"SELECT
                (SELECT person_key FROM booking_applicants
                  WHERE person_key = ANY($1) AND active LIMIT 1) AS booked,
                (SELECT count(*) FROM booking_applicants ba JOIN bookings b ON b.id = ba.booking_id
                  WHERE b.contact_id = $2 AND ba.active
                    AND NOT (b.status = 'HELD' AND b.expires_at <= $3)) AS "active!""#,
            &person_keys,
            contact_id,
            now
        )
        .fetch_one(self.pool())
        .await
        .map(|r| (r.booked, r.active))?;
        if let Some(key) = booked {
            let name = resolved
                .applicants
                .iter()
                .find(|a| a.person_key == key)
                .map(|a| a.name.clone())
                .unwrap_or_default();
            return Err(self.already_booked(&key, &name, contact_id).await?);
        }
        let max = self.config().max_people_per_phone;
        if (active as u32).saturating_add(person_keys.len() as u32) > max {
            return Err(BookingError::LimitReached {
                active: active as u32,
                max,
            });
        }
        let known = self
            .draw_windows
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&(office_code.clone(), date))
            .copied();
        let closes_at = match known {
            Some(c) => c,
            None => {
                let Some(draw) = self.ensure_draw(&office_code, date).await? else {
                    return Err(BookingError::Upstream(Box::new(status::unavailable(
                        "draw",
                        "no draw for an open window",
                    ))));
                };
                self.draw_windows
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .insert((office_code.clone(), date), draw.closes_at);
                draw.closes_at
            }
        };
        // What the admission will book: the proven phone, never the token (it lapses).
        let stored = pb::CreateBookingRequest {
            idempotency_key: String::new(),
            received_at: None,
            channel: req.channel,
            office_code: office_code.clone(),
            date: format_date(date),
            session: req.session,
            contact: Some(pb::ContactInput {
                phone: phone.clone(),
                email: if proven {
                    contact.email.clone()
                } else {
                    input.email.clone()
                },
                whatsapp_user_id: input.whatsapp_user_id.clone(),
                contact_token: String::new(),
            }),
            applicants: req.applicants.clone(),
        };
        let contact_key = hex::encode(self.pii.blind("waitlist-phone", &phone));
        let id = Uuid::new_v4();
        let mut tx = self.pool().begin().await?;
        // The draw's entry lock, shared (an in-memory lock, not a row lock: thousands of
        // entries a second take it at once). The draw takes it exclusively after leaving
        // OPEN, so it freezes the list only once every entry that saw OPEN has committed;
        // an entry after that sees DRAWING and is refused.
        sqlx::query!(
            "SELECT pg_advisory_xact_lock_shared(hashtextextended($1, 0))",
            entry_lock(&office_code, date)
        )
        .execute(&mut *tx)
        .await?;
        let inserted: Option<Uuid> = sqlx::query_scalar!(
            "INSERT INTO draw_entries (id, office_code, date, session, seats, channel,
                contact_key, request_enc, created_at)
             SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9
             WHERE EXISTS (SELECT 1 FROM draws
                           WHERE office_code = $2 AND date = $3 AND state = 'OPEN')
             ON CONFLICT (office_code, date, contact_key) DO NOTHING RETURNING id",
            id,
            &office_code,
            date,
            session.as_str(),
            person_keys.len() as i32,
            pb::Channel::try_from(req.channel)
                .unwrap_or(pb::Channel::Unspecified)
                .as_str_name(),
            &contact_key,
            self.seal_request(&stored),
            now
        )
        .fetch_optional(&mut *tx)
        .await?;
        if inserted.is_none() {
            drop(tx);
            // This contact entered already (a repeat or a second message): that entry stands.
            let existing: Option<EntryRow> = sqlx::query_as!(EntryRow, "SELECT * FROM draw_entries WHERE office_code = $1 AND date = $2 AND contact_key = $3", &office_code, date, &contact_key)
            .fetch_optional(self.pool())
            .await?;
            return match existing {
                Some(e) => self.entry_view(e, closes_at).await,
                None => Err(crate::error::refused(
                    Code::FailedPrecondition,
                    Reason::DrawClosed,
                    "Pendaftaran undian tanggal ini sudah ditutup. Silakan coba pesan lagi sebentar lagi.".into(),
                    "Entries to this date's draw are closed. Try booking again shortly.".into(),
                )),
            };
        }
        let r = sqlx::query!(
            "INSERT INTO draw_entry_people (office_code, date, person_key, entry_id)
             SELECT $1, $2, k, $4 FROM UNNEST($3::text[]) AS k",
            &office_code,
            date,
            &person_keys,
            id
        )
        .execute(&mut *tx)
        .await;
        if let Err(e) = r {
            if antrean_platform::db::is_unique_violation(&e, None) {
                drop(tx);
                // Which of them entered already (through another contact).
                let taken: Option<String> = sqlx::query_scalar!(
                    "SELECT person_key FROM draw_entry_people
                     WHERE office_code = $1 AND date = $2 AND person_key = ANY($3) LIMIT 1",
                    &office_code,
                    date,
                    &person_keys
                )
                .fetch_optional(self.pool())
                .await?;
                let name = resolved
                    .applicants
                    .iter()
                    .find(|a| Some(&a.person_key) == taken.as_ref())
                    .map_or_else(String::new, |a| a.name.clone());
                return Err(crate::error::refused(
                    Code::AlreadyExists,
                    Reason::AlreadyEntered,
                    format!(
                        "{name} sudah terdaftar dalam undian tanggal {} lewat nomor lain. Satu orang hanya boleh ikut satu kali.",
                        tanggal(date)
                    ),
                    format!("{name} has already entered the draw of {date}."),
                ));
            }
            return Err(e.into());
        }
        tx.commit().await?;
        metrics::counter!("antrean_draw_entries_total").increment(1);
        let entry = EntryRow {
            id,
            office_code: office_code.clone(),
            date,
            session: session.as_str().to_owned(),
            seats: person_keys.len() as i32,
            channel: String::new(),
            contact_key,
            request_enc: Vec::new(),
            position: None,
            outcome: None,
            booking_id: None,
            note: String::new(),
            notified: false,
            created_at: now,
        };
        self.entry_view(entry, closes_at).await
    }
    async fn entry_view(&self, entry: EntryRow, closes_at: DateTime<Utc>) -> Result<EntryView> {
        let office = self.office(&entry.office_code).await?;
        Ok(EntryView {
            draw_at_local: format!(
                "{} {}",
                local_hhmm(office.tz, closes_at),
                antrean_platform::domain::indonesian_zone_abbreviation(office.tz)
            ),
            draw_at: closes_at,
            entry,
        })
    }

    // ---- Drawing -------------------------------------------------------------------------

    /// Runs every draw whose window has closed and that is not done; answers how many
    /// finished.
    pub async fn run_due_draws(&self) -> Result<usize> {
        // Due: closed, and either no entry came in the last QUIET_SECONDS (what was received
        // in the window has arrived) or the grace after the close is over.
        let due: Vec<(String, NaiveDate, DateTime<Utc>)> = sqlx::query!(
            "SELECT d.office_code, d.date, d.closes_at FROM draws d
             WHERE d.state <> 'DONE' AND d.closes_at <= $1
               AND (d.state = 'DRAWING' OR d.closes_at <= $1 - make_interval(secs => $2)
                    OR NOT EXISTS (SELECT 1 FROM draw_entries e
                                   WHERE e.office_code = d.office_code AND e.date = d.date
                                     AND e.created_at > $1 - make_interval(secs => $3)))
             ORDER BY d.closes_at",
            self.now(),
            f64::from(self.config().draw_entry_grace_seconds),
            QUIET_SECONDS
        )
        .fetch_all(self.pool())
        .await?
        .into_iter()
        .map(|d| (d.office_code, d.date, d.closes_at))
        .collect();
        // How long the oldest closed draw has waited for its result: what an operator is
        // alerted on when a draw does not finish (docs/runbooks/DrawNotFinished.md).
        let now = self.now();
        let overdue = |closes: &[DateTime<Utc>]| {
            closes
                .iter()
                .map(|&c| antrean_platform::clock::seconds_since(now, c))
                .fold(0.0, f64::max)
        };
        let gauge = metrics::gauge!("booking_draw_overdue_seconds");
        gauge.set(overdue(&due.iter().map(|d| d.2).collect::<Vec<_>>()));
        let mut done = 0;
        let mut waiting = Vec::new();
        for (office, date, closes_at) in due {
            if self.run_draw(&office, date).await? {
                done += 1;
                metrics::counter!("booking_draws_completed_total").increment(1);
            } else {
                waiting.push(closes_at);
            }
        }
        gauge.set(overdue(&waiting));
        Ok(done)
    }

    /// Runs one draw to its end, or answers false when another replica holds it or the
    /// beacon has no value yet (the next round tries again).
    pub async fn run_draw(&self, office: &str, date: NaiveDate) -> Result<bool> {
        let now = self.now();
        // The lease, on the database's clock: one replica at a time; a crashed one's lease
        // lapses and another resumes where it stopped.
        let taken: Option<DrawRow> = sqlx::query_as!(
            DrawRow,
            "UPDATE draws SET lease_until = now() + make_interval(secs => $4),
                state = CASE WHEN state = 'OPEN' THEN 'DRAWING' ELSE state END
             WHERE office_code = $1 AND date = $2 AND state <> 'DONE' AND closes_at <= $3
               AND (lease_until IS NULL OR lease_until < now())
             RETURNING *",
            office,
            date,
            now,
            LEASE_SECONDS as f64
        )
        .fetch_optional(self.pool())
        .await?;
        let Some(mut draw) = taken else {
            return Ok(false);
        };
        let result = self.draw_under_lease(&mut draw).await;
        if !matches!(result, Ok(true)) {
            // Let the next round (here or elsewhere) try again at once.
            sqlx::query!(
                "UPDATE draws SET lease_until = NULL WHERE office_code = $1 AND date = $2",
                office,
                date
            )
            .execute(self.pool())
            .await?;
        }
        result
    }

    async fn draw_under_lease(&self, draw: &mut DrawRow) -> Result<bool> {
        let (office, date) = (draw.office_code.clone(), draw.date);
        // 1. The frozen list: the state has left OPEN, so no entry starts any more; taking the
        // entry lock exclusively waits for those still under way.
        if draw.entries_sha256.is_none() {
            let mut tx = self.pool().begin().await?;
            sqlx::query!(
                "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
                entry_lock(&office, date)
            )
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            let ids: Vec<Uuid> = sqlx::query_scalar!(
                "SELECT id FROM draw_entries WHERE office_code = $1 AND date = $2",
                &office,
                date
            )
            .fetch_all(self.pool())
            .await?;
            let ids: Vec<String> = ids.iter().map(Uuid::to_string).collect();
            let hash = antrean_platform::draw::entries_sha256(&ids);
            sqlx::query!(
                "UPDATE draws SET entries_sha256 = $3, entry_count = $4
                 WHERE office_code = $1 AND date = $2 AND entries_sha256 IS NULL",
                &office,
                date,
                &hash,
                ids.len() as i32
            )
            .execute(self.pool())
            .await?;
            draw.entries_sha256 = Some(hash);
        }
        // 2. The beacon's value for the round named in advance.
        let beacon = match &draw.beacon_randomness {
            Some(b) => b.clone(),
            None => match self.beacon(draw.beacon_round).await {
                Some(b) => {
                    sqlx::query!(
                        "UPDATE draws SET beacon_randomness = $3
                         WHERE office_code = $1 AND date = $2 AND beacon_randomness IS NULL",
                        &office,
                        date,
                        &b
                    )
                    .execute(self.pool())
                    .await?;
                    b
                }
                None => {
                    tracing::warn!(%office, %date, round = draw.beacon_round, "beacon round not available yet");
                    return Ok(false);
                }
            },
        };
        // 3. The order, once.
        let mut entries: Vec<EntryRow> = sqlx::query_as!(
            EntryRow,
            "SELECT * FROM draw_entries WHERE office_code = $1 AND date = $2 ORDER BY position, id",
            &office,
            date
        )
        .fetch_all(self.pool())
        .await?;
        if entries.iter().any(|e| e.position.is_none()) {
            let seed = self.seed_of(draw)?;
            let ids: Vec<String> = entries.iter().map(|e| e.id.to_string()).collect();
            let order = antrean_platform::draw::order(&seed, beacon.as_bytes(), &ids);
            let ids: Vec<Uuid> = order
                .iter()
                .filter_map(|s| Uuid::parse_str(s).ok())
                .collect();
            let positions: Vec<i32> = (1..=ids.len() as i32).collect();
            sqlx::query!(
                "UPDATE draw_entries e SET position = u.position
                 FROM UNNEST($1::uuid[], $2::int[]) AS u(id, position) WHERE e.id = u.id",
                &ids,
                &positions
            )
            .execute(self.pool())
            .await?;
            let rank: HashMap<Uuid, i32> = ids.into_iter().zip(positions).collect();
            for e in &mut entries {
                e.position = rank.get(&e.id).copied();
            }
            entries.sort_by_key(|e| e.position);
        }
        // 4. Admissions in drawn order.
        self.admit_in_order(draw, &entries).await?;
        // 5. One outcome message per entrant.
        self.send_outcomes(&office, date).await?;
        sqlx::query!(
            "UPDATE draws SET state = 'DONE', drawn_at = $3, lease_until = NULL
             WHERE office_code = $1 AND date = $2",
            &office,
            date,
            self.now()
        )
        .execute(self.pool())
        .await?;
        tracing::info!(%office, %date, entries = entries.len(), "release draw done");
        Ok(true)
    }

    fn seed_of(&self, draw: &DrawRow) -> Result<Vec<u8>> {
        self.pii
            .decrypt(&draw.seed_enc)
            .ok()
            .and_then(|h| hex::decode(h).ok())
            .ok_or_else(|| {
                BookingError::Upstream(Box::new(status::internal("draw seed", "unreadable")))
            })
    }

    /// The beacon's randomness (hex) of `round`, or `None` while it is not out yet.
    async fn beacon(&self, round: i64) -> Option<String> {
        static HTTP: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
        let http = HTTP.get_or_init(|| {
            reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(5))
                .build()
                .unwrap_or_default()
        });
        #[derive(serde::Deserialize)]
        struct Beacon {
            round: i64,
            randomness: String,
        }
        let url = format!(
            "{}/public/{round}",
            self.config().draw_beacon_url.trim_end_matches('/')
        );
        let b: Beacon = http
            .get(url)
            .send()
            .await
            .ok()?
            .error_for_status()
            .ok()?
            .json()
            .await
            .ok()?;
        (b.round == round && !b.randomness.is_empty()).then_some(b.randomness)
    }

    async fn admit_in_order(&self, draw: &DrawRow, entries: &[EntryRow]) -> Result<()> {
        let started = self.started_admissions(draw).await?;
        // Seats left per session as the quota sees them (admissions of an earlier, stopped
        // run of this draw already counted): groups that cannot fit are not tried.
        let mut left = self.seats_left(draw).await?;
        // Admissions run one at a time in drawn order, and every entry passed over is
        // recorded before the next admission starts. So after a stop, the first undecided
        // entry is the only one an admission may have been under way for: its hold (named
        // by the entry) may exist without a booking, already counted in `left`. It is tried
        // whatever the room; replaying its hold id takes that hold over, and without one the
        // quota decides as for anyone.
        let mut first_undecided = true;
        let mut passed = Vec::new();
        for e in entries.iter().filter(|e| e.outcome.is_none()) {
            let key = format!("draw:{}", e.id);
            let first = std::mem::take(&mut first_undecided);
            let replay = started.contains(&key) || first;
            let room = left.get(&e.session).copied().unwrap_or(0);
            if !replay && (e.seats as u32) > room {
                passed.push(e.id);
                continue;
            }
            self.record_passed(&mut passed).await?;
            let Some(mut req) = self.unseal_request(&e.request_enc) else {
                self.set_outcome(e.id, "REFUSED", None, "permintaan tidak terbaca")
                    .await?;
                continue;
            };
            req.idempotency_key = key;
            let admitted = self.admit(e.id, req).await;
            if first {
                // Whether it took over a hold already counted or made a new one, the quota
                // knows: read the room again.
                left = self.seats_left(draw).await?;
            }
            match admitted {
                Ok(view) => {
                    if !replay {
                        left.insert(e.session.clone(), room.saturating_sub(e.seats as u32));
                    }
                    self.set_outcome(e.id, "WON", Some(view.booking.id), "")
                        .await?;
                }
                Err(BookingError::Upstream(s)) if status::is(&s, Reason::SoldOut) => {
                    let remaining = status::metadata(&s)
                        .get("remaining")
                        .and_then(|r| r.parse().ok())
                        .unwrap_or(0);
                    left.insert(e.session.clone(), remaining);
                    passed.push(e.id);
                }
                Err(
                    err @ (BookingError::AlreadyBooked(_)
                    | BookingError::Blocked { .. }
                    | BookingError::LimitReached { .. }
                    | BookingError::Invalid(_)),
                ) => {
                    self.set_outcome(e.id, "REFUSED", None, &refusal_note(&err))
                        .await?;
                }
                Err(BookingError::Upstream(s)) if status::is(&s, Reason::DateClosed) => {
                    self.set_outcome(
                        e.id,
                        "REFUSED",
                        None,
                        "kantor tidak melayani pada tanggal ini",
                    )
                    .await?;
                }
                Err(other) => return Err(other),
            }
        }
        self.record_passed(&mut passed).await?;
        // Whoever did not win waits in the session's waitlist, in drawn order (a repeat adds
        // nobody twice: one place per phone and session).
        sqlx::query!(
            "INSERT INTO waitlist_entries (id, office_code, date, session, seats, channel,
                contact_key, request_enc, state, created_at, updated_at)
             SELECT gen_random_uuid(), e.office_code, e.date, e.session, e.seats, e.channel,
                    e.contact_key, e.request_enc, 'WAITING', $3, $3
             FROM draw_entries e
             WHERE e.office_code = $1 AND e.date = $2 AND e.outcome = 'WAITLISTED'
             ORDER BY e.position
             ON CONFLICT (office_code, date, session, contact_key)
                WHERE state IN ('WAITING', 'OFFERED') DO NOTHING",
            &draw.office_code,
            draw.date,
            self.now()
        )
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Seats left per session of the draw's date, as the quota sees them.
    async fn seats_left(&self, draw: &DrawRow) -> Result<HashMap<String, u32>> {
        let days = self
            .quota
            .clone()
            .get_availability(pb::GetAvailabilityRequest {
                office_code: draw.office_code.clone(),
                from: format_date(draw.date),
                to: format_date(draw.date),
            })
            .await?
            .into_inner()
            .days;
        Ok(days
            .iter()
            .flat_map(|d| d.sessions.iter())
            .filter_map(|s| {
                SessionOfDay::from_proto(s.session).map(|x| (x.as_str().to_owned(), s.remaining))
            })
            .collect())
    }

    /// Records the entries passed over (no room for the whole group) as waitlisted.
    async fn record_passed(&self, passed: &mut Vec<Uuid>) -> Result<()> {
        if passed.is_empty() {
            return Ok(());
        }
        sqlx::query!(
            "UPDATE draw_entries SET outcome = 'WAITLISTED' WHERE id = ANY($1) AND outcome IS NULL",
            &*passed
        )
        .execute(self.pool())
        .await?;
        passed.clear();
        Ok(())
    }

    /// Admissions an interrupted run made before it could record their outcome (their
    /// booking exists): their seats are counted already, so they are replayed whatever the
    /// room.
    async fn started_admissions(
        &self,
        draw: &DrawRow,
    ) -> Result<std::collections::HashSet<String>> {
        Ok(sqlx::query_scalar!(
            "SELECT idempotency_key FROM bookings
             WHERE office_code = $1 AND date = $2 AND idempotency_key LIKE 'draw:%'",
            &draw.office_code,
            draw.date
        )
        .fetch_all(self.pool())
        .await?
        .into_iter()
        .collect())
    }

    /// One admission: held as a draw admission and confirmed at once (the entrant's contact
    /// is proven). Replays the same booking when run again.
    async fn admit(&self, entry: Uuid, mut req: pb::CreateBookingRequest) -> Result<BookingView> {
        let ttl = self.config().hold_ttl_seconds;
        // The booking (and its hold) is named by the entry: see `admit_in_order`.
        let (mut view, mut code) = match self
            .create_admission(req.clone(), ttl, true, Some(entry))
            .await
        {
            // A hold of that name lapsed or was given back: admit under a new one.
            Err(BookingError::Upstream(s))
                if matches!(
                    status::reason_of(&s),
                    Some(Reason::HoldExpired | Reason::HoldReleased)
                ) =>
            {
                req.idempotency_key.push_str(":again");
                self.create_admission(req.clone(), ttl, true, None).await?
            }
            other => other?,
        };
        if matches!(
            view.booking.status,
            BookingStatus::Expired | BookingStatus::Cancelled
        ) {
            // An interrupted run's hold lapsed before this one resumed: admit afresh, once.
            req.idempotency_key.push_str(":again");
            (view, code) = self.create_admission(req, ttl, true, None).await?;
        }
        if view.booking.status == BookingStatus::Held {
            // The draw's result message is the confirmation.
            return self
                .confirm_telling(&view.booking.id.to_string(), &code, false)
                .await;
        }
        Ok(view)
    }

    async fn set_outcome(
        &self,
        id: Uuid,
        outcome: &str,
        booking: Option<Uuid>,
        note: &str,
    ) -> Result<()> {
        sqlx::query!(
            "UPDATE draw_entries SET outcome = $2, booking_id = $3, note = $4
             WHERE id = $1 AND outcome IS NULL",
            id,
            outcome,
            booking,
            note
        )
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Hands each decided, unannounced entry's outcome to the outbox (once per entry).
    async fn send_outcomes(&self, office_code: &str, date: NaiveDate) -> Result<()> {
        let pending: Vec<EntryRow> = sqlx::query_as!(
            EntryRow,
            "SELECT * FROM draw_entries WHERE office_code = $1 AND date = $2
               AND outcome IS NOT NULL AND NOT notified ORDER BY position",
            office_code,
            date
        )
        .fetch_all(self.pool())
        .await?;
        if pending.is_empty() {
            return Ok(());
        }
        let office = self.office(office_code).await?;
        // Waitlist places of this date, per session, in line order.
        let places: Vec<(String, String, i64)> = sqlx::query!(
            r#"SELECT session, contact_key,
                    row_number() OVER (PARTITION BY session ORDER BY seq) AS "place!"
             FROM waitlist_entries WHERE office_code = $1 AND date = $2 AND state = 'WAITING'"#,
            office_code,
            date
        )
        .fetch_all(self.pool())
        .await?
        .into_iter()
        .map(|p| (p.session, p.contact_key, p.place))
        .collect();
        let places: HashMap<(String, String), i64> =
            places.into_iter().map(|(s, k, n)| ((s, k), n)).collect();
        let results = futures::stream::iter(pending)
            .map(|e| {
                let office = office.clone();
                let place = places
                    .get(&(e.session.clone(), e.contact_key.clone()))
                    .copied();
                async move { self.send_outcome(&e, &office, place).await.map(|()| e.id) }
            })
            .buffer_unordered(SENDS_AT_ONCE)
            .collect::<Vec<_>>()
            .await;
        let mut sent = Vec::new();
        let mut failed = None;
        for r in results {
            match r {
                Ok(id) => sent.push(id),
                Err(e) => failed = Some(e),
            }
        }
        sqlx::query!(
            "UPDATE draw_entries SET notified = true WHERE id = ANY($1)",
            &sent
        )
        .execute(self.pool())
        .await?;
        match failed {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    async fn send_outcome(
        &self,
        e: &EntryRow,
        office: &crate::bookings::OfficeInfo,
        place: Option<i64>,
    ) -> Result<()> {
        let Some(req) = self.unseal_request(&e.request_enc) else {
            return Ok(());
        };
        let contact = req.contact.clone().unwrap_or_default();
        let names = req
            .applicants
            .iter()
            .map(|a| a.name.trim().to_owned())
            .collect::<Vec<_>>()
            .join(", ");
        let mut params: Vec<(&str, String)> = vec![
            ("name", names),
            ("office_name", office.name.clone()),
            ("date", tanggal(e.date)),
            ("session", e.session.clone()),
        ];
        let template = match e.outcome.as_deref() {
            Some("WON") => {
                let id = e.booking_id.ok_or_else(|| {
                    BookingError::Upstream(Box::new(status::internal(
                        "draw",
                        "won without booking",
                    )))
                })?;
                let v = self.view(id).await?;
                let code = v.booking.code_display().unwrap_or_default();
                let numbers = v
                    .applicants
                    .iter()
                    .filter_map(|a| a.queue_number.clone())
                    .collect::<Vec<_>>()
                    .join(", ");
                let first = v.applicants.iter().filter_map(|a| a.scheduled_at).min();
                let zone = antrean_platform::domain::indonesian_zone_abbreviation(office.tz);
                let at = |t: Option<DateTime<Utc>>| {
                    t.map(|t| format!("{} {zone}", local_hhmm(office.tz, t)))
                        .unwrap_or_default()
                };
                let arrive = first.map(|t| {
                    t - chrono::Duration::minutes(i64::from(self.config().arrive_early_minutes))
                });
                params.extend([
                    ("booking_code", code),
                    ("queue_number", numbers),
                    ("schedule_local", at(first)),
                    ("arrive_by_local", at(arrive)),
                ]);
                "draw_won"
            }
            Some("WAITLISTED") => {
                params.push(("position", place.map_or("-".into(), |p| p.to_string())));
                "draw_waitlisted"
            }
            _ => {
                params.push(("reason", e.note.clone()));
                "draw_refused"
            }
        };
        let params: HashMap<String, String> =
            params.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        let mut n = self.notification.clone();
        n.send(pb::SendRequest {
            idempotency_key: format!("draw:{}:outcome", e.id),
            channel: pb::Channel::Whatsapp as i32,
            recipient: Some(pb::Recipient {
                phone: contact.phone.clone(),
                whatsapp_user_id: contact.whatsapp_user_id.clone(),
                email: String::new(),
            }),
            sender_phone_number_id: office.phone_number_id.clone(),
            template: template.into(),
            parameters: params.clone(),
            attachment: None,
        })
        .await?;
        if !contact.email.is_empty() {
            n.send(pb::SendRequest {
                idempotency_key: format!("draw:{}:outcome:email", e.id),
                channel: pb::Channel::Email as i32,
                recipient: Some(pb::Recipient {
                    email: contact.email.clone(),
                    ..Default::default()
                }),
                sender_phone_number_id: String::new(),
                template: template.into(),
                parameters: params,
                attachment: None,
            })
            .await?;
        }
        Ok(())
    }

    // ---- Publication ---------------------------------------------------------------------

    /// The draw as published (see `GetDraw`).
    pub async fn published_draw(&self, office: &str, date: &str) -> Result<pb::Draw> {
        let date = parse_date(date).ok_or_else(|| {
            BookingError::Invalid(vec![FieldViolation::new(
                "date",
                "tanggal harus berformat YYYY-MM-DD",
            )])
        })?;
        let office = office.trim().to_ascii_uppercase();
        let draw = self.ensure_draw(&office, date).await?.ok_or_else(|| {
            crate::error::refused(
                Code::NotFound,
                Reason::NoDraw,
                format!("Tidak ada undian untuk tanggal {}.", tanggal(date)),
                format!("There is no draw for {date}."),
            )
        })?;
        let done = draw.state == "DONE";
        let mut entries = Vec::new();
        if done {
            let rows: Vec<EntryRow> = sqlx::query_as!(
                EntryRow,
                "SELECT * FROM draw_entries WHERE office_code = $1 AND date = $2 ORDER BY position",
                &office,
                date
            )
            .fetch_all(self.pool())
            .await?;
            entries = rows
                .into_iter()
                .map(|e| pb::DrawnEntry {
                    entry_id: e.id.to_string(),
                    session: e
                        .session
                        .parse::<SessionOfDay>()
                        .map_or(0, |s| s.to_proto() as i32),
                    seats: e.seats as u32,
                    position: e.position.unwrap_or(0) as u32,
                    outcome: e.outcome.unwrap_or_default(),
                })
                .collect();
        }
        Ok(pb::Draw {
            office_code: draw.office_code.clone(),
            date: format_date(draw.date),
            state: draw.state.clone(),
            opens_at: Some(to_timestamp(draw.opens_at)),
            closes_at: Some(to_timestamp(draw.closes_at)),
            seed_sha256: draw.seed_sha256.clone(),
            beacon_round: draw.beacon_round.max(0) as u64,
            beacon_url: self.config().draw_beacon_url.clone(),
            entries_sha256: draw.entries_sha256.clone().unwrap_or_default(),
            entry_count: draw.entry_count.unwrap_or(0).max(0) as u32,
            seed: if done {
                hex::encode(self.seed_of(&draw)?)
            } else {
                String::new()
            },
            beacon_randomness: if done {
                draw.beacon_randomness.clone().unwrap_or_default()
            } else {
                String::new()
            },
            entries,
        })
    }
}

fn refusal_note(e: &BookingError) -> String {
    match e {
        BookingError::AlreadyBooked(_) => "sudah memiliki booking aktif".into(),
        BookingError::Blocked { .. } => "sedang diblokir karena tidak hadir".into(),
        BookingError::LimitReached { .. } => "batas 5 orang per nomor HP tercapai".into(),
        _ => "data tidak valid".into(),
    }
}

/// Runs due draws every second and prepares upcoming ones every `prepare_every` seconds.
pub fn spawn_draw_runner(
    b: std::sync::Arc<Bookings>,
    prepare_every: u64,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
        let mut n: u64 = 0;
        loop {
            tick.tick().await;
            if n.is_multiple_of(prepare_every.max(1))
                && let Err(e) = b.prepare_draws().await
            {
                tracing::warn!(error = %e, "preparing draws failed");
            }
            n += 1;
            match b.run_due_draws().await {
                Ok(0) => {}
                Ok(done) => tracing::info!(done, "release draws run"),
                Err(e) => tracing::warn!(error = %e, "release draw failed; it resumes"),
            }
        }
    })
}
