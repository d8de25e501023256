//! Moving a confirmed booking to another date or session, once, up to the day before
//! (`BOOKING_RESCHEDULE_DAYS_BEFORE`). Nothing is lost and nothing oversold on the way:
//!
//! 1. the new hold's id is recorded in `pending_releases` first, due long after any hold's
//!    lifetime: if the move stops anywhere after this, the sweeper gives those seats back;
//! 2. quota holds and commits the new seats, for all the booking's people together (a full
//!    session refuses with SOLD_OUT and the next free dates, and nothing changes);
//! 3. one transaction takes the booking (still CONFIRMED and never moved), its new queue
//!    numbers and times, adopts the new hold (taking it out of `pending_releases`: if the
//!    sweeper took it first, the move fails and changes nothing) and records the old hold as
//!    due for release;
//! 4. the old seats are released (or, should quota be unreachable, by the sweeper).
//!
//! So at every moment the booking holds seats on one day at least, and seats held by nobody
//! are always on their way back.
use crate::bookings::{BookingView, Bookings, Numbers, Wanted};
use crate::error::{BookingError, Result, refused};
use crate::status::BookingStatus::Confirmed;
use antrean_platform::domain::{SessionOfDay, format_date, local_date, local_instant, tanggal};
use antrean_platform::status::Reason;
use antrean_proto::v1 as pb;
use chrono::{Days, Duration, NaiveDate};
use tonic::Code;
use uuid::Uuid;

/// How long after a move began its new hold, if no booking adopted it, is given back.
const ABANDONED_AFTER_SECONDS: i64 = 3600;

impl Bookings {
    /// Moves the booking `code` of `phone` to `date` and `session`; see the module's doc.
    pub async fn reschedule(
        &self,
        code: &str,
        phone: &str,
        date: &str,
        session: i32,
        via: pb::Channel,
    ) -> Result<BookingView> {
        let current = self.by_code(code, phone).await?;
        // No session named: the booking's own.
        let session = if session == pb::Session::Unspecified as i32 {
            current
                .booking
                .session
                .parse::<SessionOfDay>()
                .map_or(session, |s| s.to_proto() as i32)
        } else {
            session
        };
        let mut v = Vec::new();
        let wanted = Wanted::check(
            pb::Channel::Web as i32,
            &current.booking.office_code,
            date,
            session,
            current.applicants.len().max(1),
            &mut v,
        );
        let Some(wanted) = wanted else {
            return Err(BookingError::Invalid(v));
        };
        let b = &current.booking;
        // Moved by the office (a closed date) still leaves the applicant's own move.
        let used = sqlx::query_scalar!("SELECT rescheduled_at FROM bookings WHERE id = $1", b.id)
            .fetch_one(self.pool())
            .await?;
        if used.is_some() {
            // Asked again for where it went: the answer is the booking as it is.
            if b.date == wanted.date && b.session == wanted.session.as_str() {
                return Ok(current);
            }
            let from = current
                .moved_from
                .as_ref()
                .map(|(d, s)| format!(" (dari {} sesi {s})", tanggal(*d)))
                .unwrap_or_default();
            return Err(refused(
                Code::FailedPrecondition,
                Reason::RescheduleUsed,
                format!(
                    "Booking ini sudah pernah diubah jadwalnya{from}; perubahan jadwal hanya sekali."
                ),
                "This booking was rescheduled already; a booking may be rescheduled once.".into(),
            ));
        }
        if b.status != Confirmed {
            return Err(BookingError::WrongStatus(b.status.as_str().to_owned()));
        }
        if b.date == wanted.date && b.session == wanted.session.as_str() {
            return Err(crate::bookings::invalid(
                "date",
                "tanggal dan sesi ini sama dengan jadwal sekarang",
            ));
        }
        let office = self.office(&b.office_code).await?;
        let now = self.now();
        let days_before = u64::from(self.config().reschedule_days_before);
        let last_day = b.date.checked_sub_days(Days::new(days_before));
        if last_day.is_none_or(|last| local_date(office.tz, now) > last) {
            return Err(refused(
                Code::FailedPrecondition,
                Reason::TooLate,
                format!(
                    "Jadwal hanya dapat diubah paling lambat {} hari sebelum tanggal layanan ({}).",
                    days_before,
                    tanggal(b.date)
                ),
                format!("A booking may be rescheduled up to {days_before} day(s) before its date."),
            ));
        }

        let id = b.id;
        // The same id for the same move: a retry finds the hold it left.
        let hold = move_hold_id("reschedule", id, wanted.date, wanted.session);
        let seats = current.applicants.len() as u32;
        if let Err(refusal) = self
            .move_seats(
                id,
                &b.office_code,
                hold,
                wanted.date,
                wanted.session,
                seats,
                &office,
                None,
            )
            .await?
        {
            return Err(refusal.into());
        }
        tracing::info!(booking_id = %id, from = %b.date, to = %wanted.date, "booking rescheduled");
        let moved = self.view(id).await?;
        if via != pb::Channel::Whatsapp
            && let Err(e) = self.tell_moved(&moved).await
        {
            // The booking moved; the message is the outbox's to retry once accepted, and
            // the applicant sees the new schedule wherever they look it up.
            tracing::warn!(error = %e, booking_id = %id, "reschedule message not sent");
        }
        Ok(moved)
    }

    /// Steps 1-4 of a move (see the module's doc) with the new hold `hold`: the hold's own
    /// refusal (sold out, closed, beyond the horizon) comes back as it is, having changed
    /// nothing; anything else failing leaves every hold on its way back.
    #[allow(clippy::too_many_arguments, reason = "the move, spelled out")]
    pub(crate) async fn move_seats(
        &self,
        id: Uuid,
        office_code: &str,
        hold: Uuid,
        date: NaiveDate,
        session: SessionOfDay,
        seats: u32,
        office: &crate::bookings::OfficeInfo,
        closed: Option<NaiveDate>,
    ) -> Result<std::result::Result<(), tonic::Status>> {
        // 1. The intent: these seats go back unless the booking adopts them.
        sqlx::query!(
            "INSERT INTO pending_releases (hold_id, booking_id, not_before) VALUES ($1, $2, $3)
             ON CONFLICT (hold_id) DO NOTHING",
            hold,
            id,
            self.now() + Duration::seconds(ABANDONED_AFTER_SECONDS)
        )
        .execute(self.pool())
        .await?;
        // 2. The new seats, held and committed.
        let held = self
            .quota
            .clone()
            .hold(pb::HoldRequest {
                hold_id: hold.to_string(),
                office_code: office_code.to_owned(),
                date: format_date(date),
                session: session.to_proto() as i32,
                seats,
                ttl_seconds: self.config().hold_ttl_seconds,
                draw_admission: false,
            })
            .await;
        if let Err(s) = held {
            if antrean_platform::status::is_transport_failure(&s) {
                // The answer was lost: whatever was held goes back.
                self.release_pending(hold).await;
            } else {
                // Refused: nothing was held, and a retry may ask for the same hold.
                self.forget_release(hold).await;
            }
            return Ok(Err(s));
        }
        let committed = match self
            .quota
            .clone()
            .commit(pb::CommitRequest {
                hold_id: hold.to_string(),
            })
            .await
        {
            Ok(c) => c.into_inner(),
            Err(s) => {
                self.release_pending(hold).await;
                return Err(s.into());
            }
        };
        // 3. The booking moves, in one transaction; 4. the old seats go back.
        match self
            .move_booking(id, hold, date, session, office, committed.capacity, closed)
            .await
        {
            Ok(old) => {
                self.release_pending(old).await;
                Ok(Ok(()))
            }
            Err(e) => {
                self.release_pending(hold).await;
                Err(e)
            }
        }
    }

    /// Step 3: answers the hold the booking held before. `closed`: the office moves it off
    /// that closed date (it must still be there), which does not use the applicant's move.
    #[allow(clippy::too_many_arguments, reason = "the move, spelled out")]
    async fn move_booking(
        &self,
        id: Uuid,
        hold: Uuid,
        date: NaiveDate,
        session: SessionOfDay,
        office: &crate::bookings::OfficeInfo,
        capacity: u32,
        closed: Option<NaiveDate>,
    ) -> Result<Uuid> {
        let mut tx = self.pool().begin().await?;
        let row = sqlx::query!(
            r#"SELECT status, COALESCE(hold_id, id) AS "old_hold!", rescheduled_at, office_code,
                      date, session
               FROM bookings WHERE id = $1 FOR UPDATE"#,
            id
        )
        .fetch_one(&mut *tx)
        .await?;
        if let Some(closed) = closed {
            if row.date != closed {
                return Err(BookingError::WrongStatus("MOVED".into()));
            }
        } else if row.rescheduled_at.is_some() {
            return Err(refused(
                Code::FailedPrecondition,
                Reason::RescheduleUsed,
                "Booking ini sudah pernah diubah jadwalnya; perubahan jadwal hanya sekali.".into(),
                "This booking was rescheduled already.".into(),
            ));
        }
        if row.status != Confirmed.as_str() {
            return Err(BookingError::WrongStatus(row.status));
        }
        // The new hold is the booking's from now: out of the seats to give back. If the
        // sweeper took it first (the move took over an hour), those seats are gone.
        let adopted = sqlx::query!("DELETE FROM pending_releases WHERE hold_id = $1", hold)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if adopted != 1 {
            return Err(BookingError::Upstream(Box::new(
                antrean_platform::status::unavailable(
                    "reschedule",
                    "the new seats were given back before the booking took them",
                ),
            )));
        }
        let Numbers {
            applicants: _,
            positions,
            seqs,
            numbers,
            times,
        } = self
            .take_numbers(
                &mut tx,
                id,
                &row.office_code,
                date,
                session,
                office,
                capacity,
            )
            .await?;
        let now = self.now();
        let (start, end) = office.hours_of(session)?;
        let remind_at = local_instant(
            office.tz,
            date.pred_opt().unwrap_or(date),
            chrono::NaiveTime::from_hms_opt(self.config().reminder_hour.min(23), 0, 0)
                .unwrap_or_default(),
        );
        sqlx::query!(
            "WITH numbers AS (
                UPDATE booking_applicants ba
                SET queue_seq = u.seq, queue_number = u.number, scheduled_at = u.at,
                    date = $6, session = $7
                FROM UNNEST($2::int[], $3::int[], $4::text[], $5::timestamptz[])
                     AS u(position, seq, number, at)
                WHERE ba.booking_id = $1 AND ba.position = u.position)
             UPDATE bookings SET date = $6, session = $7, session_start_at = $8,
                 session_end_at = $9, hold_id = $10, previous_date = date,
                 previous_session = session, updated_at = $11,
                 rescheduled_at = CASE WHEN $13 THEN rescheduled_at ELSE $11 END,
                 remind_at = $12, reminder_sent = false, reconfirm_by = NULL,
                 reconfirmed_at = NULL
             WHERE id = $1",
            id,
            &positions,
            &seqs,
            &numbers as _,
            &times as _,
            date,
            session.as_str(),
            local_instant(office.tz, date, start),
            local_instant(office.tz, date, end),
            hold,
            now,
            remind_at,
            closed.is_some()
        )
        .execute(&mut *tx)
        .await?;
        // The booking's history: still CONFIRMED, on another day.
        sqlx::query!(
            "INSERT INTO booking_events (booking_id, from_status, to_status, reason, at)
             VALUES ($1, 'CONFIRMED', 'CONFIRMED', $2, $3)",
            id,
            format!(
                "{} dari {} {} ke {} {}",
                if closed.is_some() {
                    "dipindahkan kantor (tanggal ditutup)"
                } else {
                    "jadwal diubah"
                },
                format_date(row.date),
                row.session,
                format_date(date),
                session.as_str()
            ),
            now
        )
        .execute(&mut *tx)
        .await?;
        sqlx::query!(
            "INSERT INTO pending_releases (hold_id, booking_id, not_before) VALUES ($1, $2, $3)
             ON CONFLICT (hold_id) DO UPDATE SET not_before = EXCLUDED.not_before",
            row.old_hold,
            id,
            now
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(row.old_hold)
    }

    /// Releases a hold recorded in `pending_releases` and takes it out; left for the sweeper
    /// if quota cannot be reached.
    pub(crate) async fn release_pending(&self, hold: Uuid) {
        let released = self
            .quota
            .clone()
            .release(pb::ReleaseRequest {
                hold_id: hold.to_string(),
            })
            .await;
        match released {
            Ok(_) => self.forget_release(hold).await,
            Err(e) => {
                tracing::warn!(error = %e, hold_id = %hold, "seats not released yet; will retry")
            }
        }
    }

    async fn forget_release(&self, hold: Uuid) {
        if let Err(e) = sqlx::query!("DELETE FROM pending_releases WHERE hold_id = $1", hold)
            .execute(self.pool())
            .await
        {
            tracing::warn!(error = %e, hold_id = %hold, "release record not removed; the sweeper releases it again");
        }
    }

    /// The sweeper's part: every recorded release that is due. A release the sweeper takes
    /// out first cannot be adopted any more (see [`Bookings::move_booking`]).
    pub(crate) async fn release_due(&self) -> Result<usize> {
        let due = sqlx::query!(
            "DELETE FROM pending_releases WHERE hold_id IN (
                 SELECT hold_id FROM pending_releases WHERE not_before <= $1
                 ORDER BY not_before LIMIT 200 FOR UPDATE SKIP LOCKED)
             RETURNING hold_id, booking_id",
            self.now()
        )
        .fetch_all(self.pool())
        .await?;
        for d in &due {
            let released = self
                .quota
                .clone()
                .release(pb::ReleaseRequest {
                    hold_id: d.hold_id.to_string(),
                })
                .await;
            if let Err(e) = released {
                tracing::warn!(error = %e, hold_id = %d.hold_id, "seats not released yet; will retry");
                // Back on the list, due again at the next sweep.
                sqlx::query!(
                    "INSERT INTO pending_releases (hold_id, booking_id, not_before)
                     VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                    d.hold_id,
                    d.booking_id,
                    self.now()
                )
                .execute(self.pool())
                .await?;
            }
        }
        Ok(due.len())
    }

    /// The new schedule, by WhatsApp (an approved template: a web or app applicant's window is
    /// shut) and e-mail where one is known.
    async fn tell_moved(&self, v: &BookingView) -> anyhow::Result<()> {
        let (office, contact, _) = self.to_tell(&v.booking).await?;
        let params = crate::bookings::schedule_params(&office, v);
        self.tell_contact(
            &office,
            &contact,
            &format!("reschedule:{}", v.booking.id),
            "booking_rescheduled",
            params,
            Some(v),
        )
        .await
    }
}

/// The hold of a move (`kind`: an applicant's `reschedule`, the office's `relocate`) of
/// booking `id` to `date` and `session`: derived, not drawn, so a retried move asks quota for
/// the hold the first try made.
pub(crate) fn move_hold_id(kind: &str, id: Uuid, date: NaiveDate, session: SessionOfDay) -> Uuid {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(
        format!("{kind}:{id}:{}:{}", format_date(date), session.as_str()).as_bytes(),
    );
    let mut bytes = [0u8; 16];
    for (b, d) in bytes.iter_mut().zip(digest.iter()) {
        *b = *d;
    }
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}
