//! A closed date's bookings go to the office's next dates with room (`RelocateBookings`):
//! in booking order (first confirmed, first placed), each group together in one session, each
//! move made like an applicant's reschedule (the new seats held and committed before the old
//! ones go back; `reschedule`), without using the applicant's own move. A booking no date in
//! the horizon can take is cancelled and its applicant offered the waitlist. Everyone is told
//! by an approved template (and e-mail).
use crate::bookings::{BookingRow, Bookings};
use crate::error::Result;
use crate::status::BookingStatus::{self, Cancelled, Confirmed};
use antrean_platform::domain::{SessionOfDay, format_date, tanggal};
use antrean_proto::v1 as pb;
use chrono::{Days, NaiveDate};

/// Dates looked at for each booking.
const CANDIDATES: u32 = 10;

/// What a relocation did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Relocation {
    pub moved: u32,
    pub moved_people: u32,
    pub not_moved: u32,
    pub told: u32,
    pub unreachable: u32,
}

impl Bookings {
    /// Moves every confirmed booking of `office` on the closed `date`; see the module's doc.
    /// `overflow`: a session and the seats it keeps (a capacity cut): only the bookings
    /// beyond them move.
    pub async fn relocate(
        &self,
        by: &antrean_platform::actor::Actor,
        office: &str,
        date: NaiveDate,
        reason: &str,
        overflow: Option<(SessionOfDay, u32)>,
    ) -> Result<Relocation> {
        let info = self.office(office).await?;
        let rows: Vec<BookingRow> = sqlx::query_as!(BookingRow, r#"SELECT id, idempotency_key, request_hash, channel, office_code, date, session, timezone, session_start_at, session_end_at, contact_id, contact_phone_masked, status AS "status: BookingStatus", confirmation_code, confirm_attempts, expires_at, booking_code, created_at, updated_at FROM bookings
             WHERE office_code = $1 AND date = $2 AND status = 'CONFIRMED'
             ORDER BY confirmed_at, id"#, office, date)
        .fetch_all(self.pool())
        .await?;
        let mut report = Relocation::default();
        let mut kept = 0u32;
        for b in rows {
            let people = sqlx::query_scalar!(
                r#"SELECT count(*) AS "n!" FROM booking_applicants WHERE booking_id = $1 AND active"#,
                b.id
            )
            .fetch_one(self.pool())
            .await? as u32;
            if let Some((session, keep)) = overflow {
                // Only the session cut; its earliest bookings keep the seats left.
                if b.session != session.as_str() {
                    continue;
                }
                if kept + people <= keep {
                    kept += people;
                    continue;
                }
            }
            #[allow(
                clippy::expect_used,
                reason = "the schema's CHECK admits only PAGI and SIANG"
            )]
            let session: SessionOfDay = b.session.parse().expect("schema");
            let told = match self.place(&b, people, session, &info).await? {
                Some(_) => {
                    report.moved += 1;
                    report.moved_people += people;
                    self.tell_relocated(&b, date, reason).await
                }
                None => {
                    report.not_moved += 1;
                    self.cancel_closed(&b, reason).await?;
                    self.tell_not_relocated(&b, reason).await
                }
            };
            match told {
                Ok(()) => report.told += 1,
                Err(e) => {
                    report.unreachable += 1;
                    tracing::warn!(error = %e, booking_id = %b.id, "relocation message not sent");
                }
            }
        }
        let recorded = antrean_platform::audit::record(
            self.pool(),
            antrean_platform::audit::Action {
                actor: by,
                action: "RelocateBookings",
                office_code: office,
                target: &match overflow {
                    Some((session, keep)) => {
                        format!("{office} {} {session} (kept {keep})", format_date(date))
                    }
                    None => format!("{office} {}", format_date(date)),
                },
                before: None,
                after: Some(serde_json::json!({
                    "moved": report.moved, "moved_people": report.moved_people,
                    "not_moved": report.not_moved, "told": report.told,
                    "unreachable": report.unreachable, "reason": reason,
                })),
                at: self.now(),
            },
        )
        .await;
        if let Err(e) = recorded {
            tracing::error!(error = %e, "relocation not audited");
        }
        Ok(report)
    }

    /// The first date after the closed one with room for the whole group, its own session
    /// first, then either; the move made. None: no date within the horizon has room.
    async fn place(
        &self,
        b: &BookingRow,
        people: u32,
        session: SessionOfDay,
        office: &crate::bookings::OfficeInfo,
    ) -> Result<Option<(NaiveDate, SessionOfDay)>> {
        let from = b.date.checked_add_days(Days::new(1)).unwrap_or(b.date);
        for wanted in [session.to_proto(), pb::Session::Unspecified] {
            let days = self
                .quota
                .clone()
                .next_available_dates(pb::NextAvailableDatesRequest {
                    office_code: b.office_code.clone(),
                    seats: people.max(1),
                    limit: CANDIDATES,
                    session: wanted as i32,
                    from: format_date(from),
                })
                .await?
                .into_inner()
                .days;
            for day in days {
                let Some(date) = antrean_platform::domain::parse_date(&day.date) else {
                    continue;
                };
                // Its own session where it has room, else the other.
                let mut sessions: Vec<SessionOfDay> = day
                    .sessions
                    .iter()
                    .filter(|s| s.remaining >= people)
                    .filter_map(|s| SessionOfDay::from_proto(s.session))
                    .collect();
                sessions.sort_by_key(|s| *s != session);
                for s in sessions {
                    if self.move_for_office(b, people, date, s, office).await? {
                        return Ok(Some((date, s)));
                    }
                }
            }
        }
        Ok(None)
    }

    /// One move off the closed date; false when the day filled meanwhile (the next is tried).
    async fn move_for_office(
        &self,
        b: &BookingRow,
        people: u32,
        date: NaiveDate,
        session: SessionOfDay,
        office: &crate::bookings::OfficeInfo,
    ) -> Result<bool> {
        let hold = crate::reschedule::move_hold_id("relocate", b.id, date, session);
        match self
            .move_seats(
                b.id,
                &b.office_code,
                hold,
                date,
                session,
                people,
                office,
                Some(b.date),
            )
            .await?
        {
            Ok(()) => Ok(true),
            Err(s) if antrean_platform::status::is_transport_failure(&s) => Err(s.into()),
            // The day filled meanwhile: the next one is tried.
            Err(_) => Ok(false),
        }
    }

    /// No date could take it: cancelled, its seats back.
    async fn cancel_closed(&self, b: &BookingRow, reason: &str) -> Result<()> {
        let mut tx = self.pool().begin().await?;
        crate::bookings::change(
            &mut tx,
            b.id,
            Confirmed,
            Cancelled,
            &format!("kantor tutup ({reason}); tidak ada tanggal pengganti"),
            self.now(),
        )
        .await?;
        tx.commit().await?;
        self.release_seats(b.id).await;
        Ok(())
    }

    async fn tell_relocated(
        &self,
        b: &BookingRow,
        closed: NaiveDate,
        reason: &str,
    ) -> anyhow::Result<()> {
        let (office, contact, view) = self.to_tell(b).await?;
        let mut params = crate::bookings::schedule_params(&office, &view);
        params.insert("closed_date".into(), tanggal(closed));
        params.insert("reason".into(), reason.to_owned());
        self.tell_contact(
            &office,
            &contact,
            &format!("relocated:{}", b.id),
            "booking_relocated",
            params,
            Some(&view),
        )
        .await
    }

    async fn tell_not_relocated(&self, b: &BookingRow, reason: &str) -> anyhow::Result<()> {
        let (office, contact, view) = self.to_tell(b).await?;
        let mut params = crate::bookings::schedule_params(&office, &view);
        params.insert("reason".into(), reason.to_owned());
        self.tell_contact(
            &office,
            &contact,
            &format!("not-relocated:{}", b.id),
            "booking_not_relocated",
            params,
            None,
        )
        .await
    }
}

/// A date field of a staff request.
pub(crate) fn closed_date(date: &str) -> Result<NaiveDate> {
    antrean_platform::domain::parse_date(date)
        .ok_or_else(|| crate::bookings::invalid("date", "tanggal harus berformat YYYY-MM-DD"))
}

impl From<Relocation> for pb::RelocationReport {
    fn from(r: Relocation) -> Self {
        pb::RelocationReport {
            moved: r.moved,
            moved_people: r.moved_people,
            not_moved: r.not_moved,
            told: r.told,
            unreachable: r.unreachable,
        }
    }
}
