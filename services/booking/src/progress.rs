//! Application progress after the counter, per applicant, and the pickup of ready passports.
//!
//! Staff advance each checked-in applicant through the stages of
//! [`antrean_platform::progress::STAGES`] (forward only; a stage may be skipped; picked up
//! only once ready). Every change is a row of `application_stages` (the dashboard's medians
//! come from it) and an audited staff action in the same transaction, and the applicant is
//! told by an approved template (and e-mail); a message not accepted yet is sent again by the
//! sweeper.
//!
//! An applicant whose passport is ready comes in the office's pickup hours and gets a ticket
//! in the pickup lane (`C-001`, ...), called like any other onto the display; serving it hands
//! over every ready passport of the booking. A passport not collected after
//! `BOOKING_PICKUP_REMINDER_DAYS` days gets one reminder.
use crate::bookings::{BookingRow, BookingView, Bookings};
use crate::error::{BookingError, Result, refused};
use crate::queue::Ticket;
use antrean_platform::actor::Actor;
use antrean_platform::domain::{format_hhmm, local_date, parse_hhmm};
use antrean_platform::progress;
use antrean_platform::status::{FieldViolation, Reason};
use antrean_proto::v1 as pb;
use chrono::{DateTime, Duration, NaiveTime, Timelike, Utc};
use serde_json::json;
use sqlx::PgConnection;
use tonic::Code;
use uuid::Uuid;

fn invalid(field: &str, id: &str, en: &str) -> BookingError {
    BookingError::Invalid(vec![FieldViolation::bilingual(field, id, en)])
}

fn not_allowed(id: String, en: String) -> BookingError {
    refused(Code::FailedPrecondition, Reason::StageNotAllowed, id, en)
}

/// Selects a booking row by its code, locked.
const BOOKING_BY_CODE: &str = "SELECT id, idempotency_key, request_hash, channel, office_code, date, session, timezone, session_start_at, session_end_at, contact_id, contact_phone_masked, status, confirmation_code, confirm_attempts, expires_at, booking_code, created_at, updated_at FROM bookings WHERE booking_code = $1 FOR UPDATE";

impl Bookings {
    /// The booking of `code` at `office`, for its staff.
    pub async fn at_office(&self, code: &str, office: &str) -> Result<BookingView> {
        let mut tx = self.pool().begin().await?;
        let b = self.booking_at(&mut tx, code, office).await?;
        drop(tx);
        self.view(b.id).await
    }

    /// The booking of `code` at `office`, locked in `conn`'s transaction.
    async fn booking_at(
        &self,
        conn: &mut PgConnection,
        code: &str,
        office: &str,
    ) -> Result<BookingRow> {
        let code = Self::parse_code(code)?;
        let b: BookingRow = sqlx::query_as(BOOKING_BY_CODE)
            .bind(code.as_str())
            .fetch_optional(&mut *conn)
            .await?
            .ok_or(BookingError::NotFound)?;
        if !b.office_code.eq_ignore_ascii_case(office.trim()) {
            return Err(BookingError::WrongOffice {
                booking_office: b.office_code,
            });
        }
        Ok(b)
    }

    /// Moves applicant `applicant` (1-based) of booking `code` to `stage`; see the module
    /// docs. The same stage again answers the booking as it is.
    pub async fn advance_stage(
        &self,
        by: &Actor,
        office: &str,
        code: &str,
        applicant: u32,
        stage: pb::ApplicationStage,
    ) -> Result<BookingView> {
        if progress::rank(stage) == 0 {
            return Err(invalid(
                "stage",
                "tahap tidak dikenal (DOCUMENTS_CHECKED, PHOTO_INTERVIEW, PAYMENT_CONFIRMED, PRINTING, READY_FOR_PICKUP, PICKED_UP)",
                "unknown stage",
            ));
        }
        let now = self.now();
        let mut tx = self.pool().begin().await?;
        let b = self.booking_at(&mut tx, code, office).await?;
        let position = applicant.checked_sub(1).map_or(-1, |p| p as i32);
        let row = sqlx::query!(
            r#"SELECT a.stage, a.name,
                      EXISTS (SELECT 1 FROM tickets t WHERE t.booking_id = a.booking_id
                              AND t.position = a.position AND NOT t.pickup) AS "checked_in!"
               FROM booking_applicants a WHERE a.booking_id = $1 AND a.position = $2
               FOR UPDATE OF a"#,
            b.id,
            position
        )
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| {
            invalid(
                "applicant",
                "pemohon ke-berapa pada booking ini (mulai dari 1)",
                "the applicant's number in the booking, from 1",
            )
        })?;
        let current = progress::parse(&row.stage);
        if current == stage {
            drop(tx);
            return self.view(b.id).await;
        }
        if !row.checked_in {
            return Err(not_allowed(
                format!("{} belum check-in di kantor.", row.name),
                format!("{} has not checked in.", row.name),
            ));
        }
        let backwards = progress::rank(stage) < progress::rank(current);
        let unready = stage == pb::ApplicationStage::PickedUp
            && current != pb::ApplicationStage::ReadyForPickup;
        if backwards || unready {
            return Err(not_allowed(
                format!(
                    "Tahap {} tidak dapat dipilih: tahap sekarang {}{}.",
                    progress::label(stage),
                    progress::label(current),
                    if unready {
                        "; paspor harus siap diambil lebih dulu"
                    } else {
                        ""
                    }
                ),
                format!(
                    "{} cannot follow {}.",
                    progress::name(stage),
                    progress::name(current)
                ),
            ));
        }
        set_stage(&mut tx, &b, position, stage, &by.staff_id, now).await?;
        antrean_platform::audit::record(
            &mut *tx,
            antrean_platform::audit::Action {
                actor: by,
                action: "AdvanceStage",
                office_code: &b.office_code,
                target: &format!("{}#{applicant}", b.booking_code.as_deref().unwrap_or("")),
                before: Some(json!({"stage": progress::name(current)})),
                after: Some(json!({"stage": progress::name(stage)})),
                at: now,
            },
        )
        .await?;
        tx.commit().await?;
        self.tell_stages(&b).await;
        self.view(b.id).await
    }

    /// Tells the contact of booking `b` every stage change not told yet (one message each);
    /// what is not accepted now the sweeper sends again.
    pub(crate) async fn tell_stages(&self, b: &BookingRow) {
        if let Err(e) = self.try_tell_stages(b).await {
            tracing::warn!(error = %e, booking_id = %b.id, "stage message not sent yet; will retry");
        }
    }

    async fn try_tell_stages(&self, b: &BookingRow) -> anyhow::Result<()> {
        let untold = sqlx::query!(
            "SELECT position, name, stage FROM booking_applicants
             WHERE booking_id = $1 AND NOT stage_told ORDER BY position",
            b.id
        )
        .fetch_all(self.pool())
        .await?;
        if untold.is_empty() {
            return Ok(());
        }
        let (office, contact, view) = self.to_tell(b).await?;
        let code = view.booking.code_display().unwrap_or_default();
        for a in untold {
            let stage = progress::parse(&a.stage);
            let mut note = progress::note(stage).to_owned();
            if stage == pb::ApplicationStage::ReadyForPickup {
                note = format!(
                    "Jam pengambilan {}. {note}",
                    self.pickup_hours_text(&b.office_code, office.tz).await?
                );
            }
            let params = [
                ("name", a.name.clone()),
                ("booking_code", code.clone()),
                ("office_name", office.name.clone()),
                ("stage", progress::label(stage).to_owned()),
                ("note", note),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
            self.tell_contact(
                &office,
                &contact,
                &format!("stage:{}:{}:{}", b.id, a.position, progress::name(stage)),
                "application_progress",
                params,
                None,
            )
            .await?;
            sqlx::query!(
                "UPDATE booking_applicants SET stage_told = true
                 WHERE booking_id = $1 AND position = $2 AND stage = $3",
                b.id,
                a.position,
                &a.stage
            )
            .execute(self.pool())
            .await?;
        }
        Ok(())
    }

    // ---- Pickup ----------------------------------------------------------------------------

    /// The office's pickup hours: its own, or `BOOKING_PICKUP_HOURS`.
    pub async fn pickup_hours(&self, office: &str) -> Result<(NaiveTime, NaiveTime)> {
        let own = sqlx::query!(
            "SELECT opens, closes FROM pickup_hours WHERE office_code = $1",
            office.trim().to_uppercase()
        )
        .fetch_optional(self.pool())
        .await?;
        Ok(match own {
            Some(h) => (h.opens, h.closes),
            None => self.config().pickup_hours(),
        })
    }

    /// e.g. "13:00-15:00 WIB".
    pub async fn pickup_hours_text(&self, office: &str, tz: chrono_tz::Tz) -> Result<String> {
        let (opens, closes) = self.pickup_hours(office).await?;
        Ok(format!(
            "{}-{} {}",
            format_hhmm(opens),
            format_hhmm(closes),
            antrean_platform::domain::indonesian_zone_abbreviation(tz)
        ))
    }

    /// Sets an office's pickup hours (HH:MM, office-local); audited.
    pub async fn set_pickup_hours(
        &self,
        by: &Actor,
        office: &str,
        opens: &str,
        closes: &str,
    ) -> Result<(NaiveTime, NaiveTime)> {
        let office = office.trim().to_uppercase();
        self.office(&office).await?;
        let mut bad = Vec::new();
        let (o, c) = (parse_hhmm(opens), parse_hhmm(closes));
        if o.is_none() {
            bad.push(FieldViolation::bilingual("opens", "jam HH:MM", "HH:MM"));
        }
        if c.is_none() {
            bad.push(FieldViolation::bilingual("closes", "jam HH:MM", "HH:MM"));
        }
        let (Some(o), Some(c)) = (o, c) else {
            return Err(BookingError::Invalid(bad));
        };
        if o >= c {
            return Err(invalid(
                "closes",
                "jam tutup harus setelah jam buka",
                "must be after opens",
            ));
        }
        let now = self.now();
        let before = self.pickup_hours(&office).await?;
        let mut tx = self.pool().begin().await?;
        sqlx::query!(
            "INSERT INTO pickup_hours (office_code, opens, closes, updated_at)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT (office_code) DO UPDATE SET opens = $2, closes = $3, updated_at = $4",
            &office,
            o,
            c,
            now
        )
        .execute(&mut *tx)
        .await?;
        antrean_platform::audit::record(
            &mut *tx,
            antrean_platform::audit::Action {
                actor: by,
                action: "SetPickupHours",
                office_code: &office,
                target: &office,
                before: Some(
                    json!({"opens": format_hhmm(before.0), "closes": format_hhmm(before.1)}),
                ),
                after: Some(json!({"opens": format_hhmm(o), "closes": format_hhmm(c)})),
                at: now,
            },
        )
        .await?;
        tx.commit().await?;
        Ok((o, c))
    }

    /// A ticket in the pickup lane for booking `code`, whose ready passports are collected:
    /// in the office's pickup hours only; the same ticket again while it waits or is called.
    pub async fn check_in_pickup(&self, by: &Actor, office: &str, code: &str) -> Result<Ticket> {
        let now = self.now();
        let mut tx = self.pool().begin().await?;
        let b = self.booking_at(&mut tx, code, office).await?;
        let info = self.office(&b.office_code).await?;
        let today = local_date(info.tz, now);
        let ready: Vec<String> = sqlx::query_scalar!(
            "SELECT name FROM booking_applicants
             WHERE booking_id = $1 AND stage = 'READY_FOR_PICKUP' ORDER BY position",
            b.id
        )
        .fetch_all(&mut *tx)
        .await?;
        if ready.is_empty() {
            return Err(not_allowed(
                "Belum ada paspor pada booking ini yang siap diambil.".into(),
                "No passport of this booking is ready for pickup.".into(),
            ));
        }
        let (opens, closes) = self.pickup_hours(&b.office_code).await?;
        let local = now.with_timezone(&info.tz).time();
        if local < opens || local >= closes {
            let zone = antrean_platform::domain::indonesian_zone_abbreviation(info.tz);
            return Err(refused(
                Code::FailedPrecondition,
                Reason::PickupClosed,
                format!(
                    "Pengambilan paspor dilayani pukul {}-{} {zone}.",
                    format_hhmm(opens),
                    format_hhmm(closes)
                ),
                format!(
                    "Passports are handed over {}-{} {zone}.",
                    format_hhmm(opens),
                    format_hhmm(closes)
                ),
            ));
        }
        let existing: Option<Ticket> =
            sqlx::query_as("SELECT * FROM tickets WHERE booking_id = $1 AND date = $2 AND pickup")
                .bind(b.id)
                .bind(today)
                .fetch_optional(&mut *tx)
                .await?;
        if let Some(t) = existing {
            return Ok(t);
        }
        crate::queue::lock_call_state(&mut tx, &b.office_code, today).await?;
        let n: i32 = sqlx::query_scalar!(
            "UPDATE call_state SET last_pickup = last_pickup + 1
             WHERE office_code = $1 AND date = $2 RETURNING last_pickup",
            &b.office_code,
            today
        )
        .fetch_one(&mut *tx)
        .await?;
        let session = if local.hour() < 12 { "PAGI" } else { "SIANG" };
        let t: Ticket = sqlx::query_as(
            "INSERT INTO tickets (id, office_code, date, session, priority, pickup, booking_id,
                queue_number, name, order_at, state, created_at)
             VALUES ($1, $2, $3, $4, false, true, $5, $6, $7, $8, 'WAITING', $8)
             RETURNING *",
        )
        .bind(Uuid::now_v7())
        .bind(&b.office_code)
        .bind(today)
        .bind(session)
        .bind(b.id)
        .bind(format!("C-{n:03}"))
        .bind(ready.join(", "))
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        antrean_platform::audit::record(
            &mut *tx,
            antrean_platform::audit::Action {
                actor: by,
                action: "CheckInPickup",
                office_code: &b.office_code,
                target: &t.queue_number,
                before: None,
                after: Some(json!({"booking_code": b.booking_code, "ready": ready.len()})),
                at: now,
            },
        )
        .await?;
        tx.commit().await?;
        Ok(t)
    }

    /// Passports ready for `BOOKING_PICKUP_REMINDER_DAYS` days and not collected: one
    /// reminder each (an approved template; a booking's passports due together share one
    /// message), marked once accepted.
    pub(crate) async fn remind_uncollected(&self) -> Result<usize> {
        let days = i64::from(self.config().pickup_reminder_days);
        let due = self.now() - Duration::days(days);
        let bookings = sqlx::query!(
            r#"SELECT booking_id, array_agg(position ORDER BY position) AS "positions!",
                      array_agg(name ORDER BY position) AS "names!", min(stage_at) AS ready_at
               FROM booking_applicants
               WHERE stage = 'READY_FOR_PICKUP' AND NOT pickup_reminded AND stage_at <= $1
               GROUP BY booking_id ORDER BY min(stage_at) LIMIT 200"#,
            due
        )
        .fetch_all(self.pool())
        .await?;
        let mut sent = 0;
        for b in bookings {
            match self
                .remind_pickup(b.booking_id, &b.positions, &b.names.join(", "), b.ready_at)
                .await
            {
                Ok(()) => sent += 1,
                Err(e) => {
                    tracing::warn!(error = %e, booking_id = %b.booking_id, "pickup reminder not sent yet; will retry");
                }
            }
        }
        Ok(sent)
    }

    async fn remind_pickup(
        &self,
        id: Uuid,
        positions: &[i32],
        names: &str,
        ready_at: Option<DateTime<Utc>>,
    ) -> anyhow::Result<()> {
        let view = self.view(id).await?;
        let (office, contact, _) = self.to_tell(&view.booking).await?;
        let ready = ready_at.map_or_else(String::new, |t| {
            antrean_platform::domain::tanggal(local_date(office.tz, t))
        });
        let params = [
            ("name", names.to_owned()),
            (
                "booking_code",
                view.booking.code_display().unwrap_or_default(),
            ),
            ("office_name", office.name.clone()),
            ("ready_date", ready),
            (
                "pickup_hours",
                self.pickup_hours_text(&view.booking.office_code, office.tz)
                    .await?,
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let who: Vec<String> = positions.iter().map(i32::to_string).collect();
        self.tell_contact(
            &office,
            &contact,
            &format!("pickup-reminder:{id}:{}", who.join("-")),
            "pickup_reminder",
            params,
            None,
        )
        .await?;
        sqlx::query!(
            "UPDATE booking_applicants SET pickup_reminded = true
             WHERE booking_id = $1 AND position = ANY($2)",
            id,
            positions
        )
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Bookings with a stage change not told yet (for the sweeper).
    pub(crate) async fn retell_stages(&self) -> Result<()> {
        let ids: Vec<Uuid> = sqlx::query_scalar!(
            "SELECT DISTINCT booking_id FROM booking_applicants WHERE NOT stage_told LIMIT 200"
        )
        .fetch_all(self.pool())
        .await?;
        for id in ids {
            let v = self.view(id).await?;
            self.tell_stages(&v.booking).await;
        }
        Ok(())
    }
}

/// Moves applicant `position` of booking `b` to `stage` in `conn`'s transaction: the row
/// (to be told), and its history.
pub(crate) async fn set_stage(
    conn: &mut PgConnection,
    b: &BookingRow,
    position: i32,
    stage: pb::ApplicationStage,
    staff_id: &str,
    at: DateTime<Utc>,
) -> Result<()> {
    sqlx::query!(
        "UPDATE booking_applicants SET stage = $3, stage_at = $4, stage_told = false,
             pickup_reminded = false
         WHERE booking_id = $1 AND position = $2",
        b.id,
        position,
        progress::name(stage),
        at
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        "INSERT INTO application_stages (booking_id, position, office_code, stage, at, staff_id)
         VALUES ($1, $2, $3, $4, $5, $6)",
        b.id,
        position,
        &b.office_code,
        progress::name(stage),
        at,
        staff_id
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Serving a pickup ticket hands over every ready passport of its booking, in the serving
/// transaction.
pub(crate) async fn hand_over(
    conn: &mut PgConnection,
    t: &Ticket,
    staff_id: &str,
    at: DateTime<Utc>,
) -> Result<Option<BookingRow>> {
    let Some(id) = t.booking_id.filter(|_| t.pickup) else {
        return Ok(None);
    };
    let b: BookingRow = sqlx::query_as(&BOOKING_BY_CODE.replace("booking_code = $1", "id = $1"))
        .bind(id)
        .fetch_one(&mut *conn)
        .await?;
    let ready: Vec<i32> = sqlx::query_scalar!(
        "SELECT position FROM booking_applicants
         WHERE booking_id = $1 AND stage = 'READY_FOR_PICKUP' FOR UPDATE",
        id
    )
    .fetch_all(&mut *conn)
    .await?;
    for p in ready {
        set_stage(conn, &b, p, pb::ApplicationStage::PickedUp, staff_id, at).await?;
    }
    Ok(Some(b))
}
