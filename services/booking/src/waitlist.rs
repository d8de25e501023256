//! Waitlists of full sessions.
//!
//! Joining keeps the request to book, encrypted, in line. Seats come free when a booking is
//! cancelled or expires, when capacity grows, or when priority seats roll over; promotion
//! then offers them in line order to the first entries whose whole group fits, as a HELD
//! booking with its own expiry and a confirmation code sent by WhatsApp. An offer not
//! confirmed in time expires like any hold, its seats go back, and the entry has passed: the
//! next entry gets the seats.
//!
//! Promotion of one session runs under a PostgreSQL advisory lock, and an entry's booking is
//! created with the idempotency key `waitlist:{entry}`: concurrent promotions can neither
//! offer one entry twice nor hold part of a group (a hold is all seats or none).
use crate::bookings::{Bookings, Wanted};
use crate::error::{BookingError, Result};
use antrean_platform::domain::{SessionOfDay, format_date, local_hhmm, tanggal};
use antrean_platform::status::Reason;
use antrean_platform::status::{self, FieldViolation};
use antrean_proto::v1 as pb;
use chrono::{DateTime, NaiveDate, Utc};
use sqlx::FromRow;
use tonic::Code;
use uuid::Uuid;

#[derive(Debug, Clone, FromRow)]
pub struct Entry {
    pub id: Uuid,
    pub seq: i64,
    pub office_code: String,
    pub date: NaiveDate,
    pub session: String,
    pub seats: i32,
    pub channel: String,
    pub request_enc: Vec<u8>,
    pub state: String,
    pub booking_id: Option<Uuid>,
    pub offer_expires_at: Option<DateTime<Utc>>,
    pub offer_sent: bool,
    pub contact_key: String,
    pub note: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Bookings {
    /// Joins the waitlist of a full session; the same phone joining again answers its entry.
    /// Answers the entry and its position in line (1 = next).
    pub async fn join_waitlist(&self, r: pb::JoinWaitlistRequest) -> Result<(Entry, u32)> {
        let mut v = Vec::new();
        let wanted = Wanted::check(
            r.channel,
            &r.office_code,
            &r.date,
            r.session,
            r.applicants.len(),
            &mut v,
        );
        if !v.is_empty() {
            return Err(BookingError::Invalid(v));
        }
        // An office-only application cannot wait for an online seat either.
        crate::bookings::refuse_office_only(&r.applicants)?;
        let Wanted {
            channel,
            office_code: office,
            date,
            session,
        } = wanted.ok_or(BookingError::Invalid(Vec::new()))?;
        crate::bookings::require_proof(channel, r.contact.as_ref())?;
        let proven = r
            .contact
            .as_ref()
            .is_some_and(|c| !c.contact_token.trim().is_empty());
        let mut phone = None;
        if !proven {
            match antrean_platform::phone::normalize(
                &r.contact
                    .as_ref()
                    .map(|c| c.phone.clone())
                    .unwrap_or_default(),
            ) {
                Ok(p) => phone = Some(p),
                Err((id, en)) => {
                    return Err(BookingError::Invalid(vec![FieldViolation::bilingual(
                        "contact.phone",
                        id,
                        en,
                    )]));
                }
            }
        }
        // The people must be able to book (valid NIK, names, not blocked).
        let resolved = self
            .identity
            .clone()
            .resolve_applicants(pb::ResolveApplicantsRequest {
                contact: r.contact.clone(),
                applicants: r.applicants.clone(),
            })
            .await?
            .into_inner();
        // A token lives 30 minutes, an entry until its offer: the entry keeps the proven
        // phone instead, and its offer is confirmed by the code sent to that phone.
        let contact = match resolved.contact.as_ref() {
            Some(c) if proven => pb::ContactInput {
                phone: c.phone.clone(),
                email: c.email.clone(),
                ..Default::default()
            },
            _ => r.contact.clone().unwrap_or_default(),
        };
        let phone = match phone {
            Some(p) => p,
            None => resolved
                .contact
                .as_ref()
                .map(|c| c.phone.clone())
                .filter(|p| !p.is_empty())
                .ok_or_else(|| {
                    BookingError::Upstream(Box::new(status::internal("proven contact", "no phone")))
                })?,
        };
        let now = self.now();
        crate::bookings::refuse_blocked(&resolved.applicants, now)?;
        // Only a full session has a waitlist.
        let seats = r.applicants.len() as u32;
        match self.remaining(&office, date, session).await? {
            Some(left) if left >= seats => {
                return Err(crate::error::refused(
                    Code::FailedPrecondition,
                    Reason::SeatsAvailable,
                    format!(
                        "Masih ada {left} kursi pada {} sesi {session}: silakan pesan langsung.",
                        tanggal(date)
                    ),
                    format!("{left} seats are still free on {date} {session}: book directly."),
                ));
            }
            Some(_) => {}
            None => {
                return Err(crate::error::refused(
                    Code::FailedPrecondition,
                    Reason::NotBookable,
                    format!("Tanggal {} tidak dapat dipesan.", tanggal(date)),
                    format!("{date} cannot be booked."),
                ));
            }
        }
        let request = pb::CreateBookingRequest {
            idempotency_key: String::new(),
            received_at: None,
            channel: channel as i32,
            office_code: office.clone(),
            date: format_date(date),
            session: r.session,
            contact: Some(contact),
            applicants: r.applicants.clone(),
        };
        let sealed = self.seal_request(&request);
        let key = hex::encode(self.pii.blind("waitlist-phone", &phone));
        sqlx::query!(
            "INSERT INTO waitlist_entries (id, office_code, date, session, seats, channel,
                contact_key, request_enc, state, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'WAITING', $9, $9)
             ON CONFLICT (office_code, date, session, contact_key)
                WHERE state IN ('WAITING', 'OFFERED') DO NOTHING",
            Uuid::now_v7(),
            &office,
            date,
            session.as_str(),
            seats as i32,
            channel.as_str_name(),
            &key,
            sealed,
            now
        )
        .execute(self.pool())
        .await?;
        let entry: Entry = sqlx::query_as!(
            Entry,
            "SELECT * FROM waitlist_entries
             WHERE office_code = $1 AND date = $2 AND session = $3 AND contact_key = $4
               AND state IN ('WAITING', 'OFFERED')",
            &office,
            date,
            session.as_str(),
            &key
        )
        .fetch_one(self.pool())
        .await?;
        let position = self.position(&entry).await?;
        Ok((entry, position))
    }

    /// Place in line among the entries still waiting (1 = next).
    pub async fn position(&self, e: &Entry) -> Result<u32> {
        let ahead: i64 = sqlx::query_scalar!(r#"SELECT count(*) AS "n!" FROM waitlist_entries
             WHERE office_code = $1 AND date = $2 AND session = $3 AND state = 'WAITING' AND seq < $4"#, &e.office_code, e.date, &e.session, e.seq)
        .fetch_one(self.pool())
        .await?;
        Ok(ahead as u32 + 1)
    }

    /// Seats left in a session as the quota sees them; `None` when the date is not bookable.
    async fn remaining(
        &self,
        office: &str,
        date: NaiveDate,
        session: SessionOfDay,
    ) -> Result<Option<u32>> {
        let days = self
            .quota
            .clone()
            .get_availability(pb::GetAvailabilityRequest {
                office_code: office.to_owned(),
                from: format_date(date),
                to: format_date(date),
            })
            .await;
        let days = match days {
            Ok(d) => d.into_inner().days,
            Err(s) if s.code() == Code::InvalidArgument || s.code() == Code::FailedPrecondition => {
                return Ok(None);
            }
            Err(s) => return Err(s.into()),
        };
        Ok(days
            .into_iter()
            .find(|d| d.date == format_date(date) && d.open)
            .and_then(|d| {
                d.sessions
                    .into_iter()
                    .find(|s| s.session == session.to_proto() as i32)
            })
            .map(|s| s.remaining))
    }

    /// Promotes every session with live entries; answers how many offers were made.
    pub async fn promote_waitlists(&self) -> Result<usize> {
        // A session whose day has passed everywhere in Indonesia (UTC+7..+9) has no seats to
        // offer: its line is over.
        sqlx::query!("UPDATE waitlist_entries SET state = 'DROPPED', note = 'tanggal sudah lewat', updated_at = $2
             WHERE state = 'WAITING' AND date < $1", (self.now() + chrono::Duration::hours(7)).date_naive(), self.now())
        .execute(self.pool())
        .await?;
        let sessions: Vec<(String, NaiveDate, String)> = sqlx::query!(
            "SELECT DISTINCT office_code, date, session FROM waitlist_entries
             WHERE state IN ('WAITING', 'OFFERED')"
        )
        .fetch_all(self.pool())
        .await?
        .into_iter()
        .map(|w| (w.office_code, w.date, w.session))
        .collect();
        let mut offers = 0;
        for (office, date, session) in sessions {
            match session.parse::<SessionOfDay>() {
                Ok(s) => offers += self.promote(&office, date, s).await?,
                Err(_) => continue,
            }
        }
        Ok(offers)
    }

    /// Settles the session's offers, then offers free seats in line order to the entries
    /// whose whole group fits. Answers how many offers were made.
    pub async fn promote(
        &self,
        office: &str,
        date: NaiveDate,
        session: SessionOfDay,
    ) -> Result<usize> {
        let mut lock = self.pool().begin().await?;
        sqlx::query!(
            "SELECT pg_advisory_xact_lock(hashtextextended($1, 7))",
            format!("waitlist:{office}:{date}:{}", session.as_str())
        )
        .execute(&mut *lock)
        .await?;
        // Offers taken become BOOKED; offers expired or cancelled have passed.
        sqlx::query!("UPDATE waitlist_entries w SET
                state = CASE WHEN b.status IN ('EXPIRED', 'CANCELLED') THEN 'PASSED' ELSE 'BOOKED' END,
                updated_at = $4
             FROM bookings b
             WHERE b.id = w.booking_id AND w.state = 'OFFERED'
               AND w.office_code = $1 AND w.date = $2 AND w.session = $3 AND b.status <> 'HELD'", office, date, session.as_str(), self.now())
        .execute(&mut *lock)
        .await?;
        let waiting: Vec<Entry> = sqlx::query_as!(
            Entry,
            "SELECT * FROM waitlist_entries
             WHERE office_code = $1 AND date = $2 AND session = $3 AND state = 'WAITING'
             ORDER BY seq",
            office,
            date,
            session.as_str()
        )
        .fetch_all(&mut *lock)
        .await?;
        // Offers whose message did not go out yet (the notification service was down).
        let unsent: Vec<Entry> = sqlx::query_as!(
            Entry,
            "SELECT w.* FROM waitlist_entries w JOIN bookings b ON b.id = w.booking_id
             WHERE w.office_code = $1 AND w.date = $2 AND w.session = $3
               AND w.state = 'OFFERED' AND NOT w.offer_sent AND b.status = 'HELD'",
            office,
            date,
            session.as_str()
        )
        .fetch_all(&mut *lock)
        .await?;
        for e in unsent {
            let (Some(req), Some(id)) = (self.request_of(&e), e.booking_id) else {
                continue;
            };
            let view = self.view(id).await?;
            let code = view.booking.confirmation_code.clone();
            let expires = view.booking.expires_at;
            self.offer(&mut lock, &e, &req, &view, &code, expires)
                .await?;
        }
        let mut offers = 0;
        let mut left = if waiting.is_empty() {
            0
        } else {
            self.remaining(office, date, session).await?.unwrap_or(0)
        };
        for e in waiting {
            if left == 0 {
                break;
            }
            if e.seats as u32 > left {
                // The whole group does not fit; someone smaller behind may.
                continue;
            }
            let mut req = match self.request_of(&e) {
                Some(r) => r,
                None => {
                    self.drop_entry(&mut lock, e.id, "permintaan tidak terbaca")
                        .await?;
                    continue;
                }
            };
            req.idempotency_key = format!("waitlist:{}", e.id);
            let ttl = self.config().waitlist_offer_minutes.max(1) * 60;
            match self.create_with_ttl(req.clone(), ttl).await {
                Ok((view, code)) => {
                    let expires = view.booking.expires_at;
                    sqlx::query!(
                        "UPDATE waitlist_entries SET state = 'OFFERED', booking_id = $2,
                            offer_expires_at = $3, updated_at = $4 WHERE id = $1",
                        e.id,
                        view.booking.id,
                        expires,
                        self.now()
                    )
                    .execute(&mut *lock)
                    .await?;
                    left = left.saturating_sub(e.seats as u32);
                    offers += 1;
                    self.offer(&mut lock, &e, &req, &view, &code, expires)
                        .await?;
                }
                Err(BookingError::Upstream(s)) if status::is(&s, Reason::SoldOut) => {
                    left = status::metadata(&s)
                        .get("remaining")
                        .and_then(|r| r.parse().ok())
                        .unwrap_or(0);
                }
                Err(
                    err @ (BookingError::AlreadyBooked(_)
                    | BookingError::Blocked { .. }
                    | BookingError::LimitReached { .. }
                    | BookingError::Invalid(_)),
                ) => {
                    self.drop_entry(&mut lock, e.id, &err.to_string()).await?;
                }
                // The date is being released or drawn: its seats go to the draw first; the
                // line waits for the next round.
                Err(BookingError::Upstream(s))
                    if matches!(
                        status::reason_of(&s),
                        Some(Reason::DrawOpen | Reason::DrawRunning | Reason::NotReleased)
                    ) =>
                {
                    break;
                }
                Err(other) => return Err(other),
            }
        }
        lock.commit().await?;
        Ok(offers)
    }

    fn request_of(&self, e: &Entry) -> Option<pb::CreateBookingRequest> {
        self.unseal_request(&e.request_enc)
    }

    /// Sends the offer and records that it went; a failure leaves it for the next round.
    async fn offer(
        &self,
        conn: &mut sqlx::PgConnection,
        e: &Entry,
        req: &pb::CreateBookingRequest,
        view: &crate::bookings::BookingView,
        code: &str,
        expires: DateTime<Utc>,
    ) -> Result<()> {
        match self.send_offer(e, req, view, code, expires).await {
            Ok(()) => {
                sqlx::query!(
                    "UPDATE waitlist_entries SET offer_sent = true WHERE id = $1",
                    e.id
                )
                .execute(conn)
                .await?;
            }
            Err(err) => tracing::warn!(error = %err, entry = %e.id, "waitlist offer not sent yet"),
        }
        Ok(())
    }

    async fn drop_entry(&self, conn: &mut sqlx::PgConnection, id: Uuid, why: &str) -> Result<()> {
        sqlx::query!("UPDATE waitlist_entries SET state = 'DROPPED', note = $2, updated_at = $3 WHERE id = $1", id, why, self.now())
            .execute(conn)
            .await?;
        Ok(())
    }

    /// The offer by WhatsApp from the office's number (an approved template: the person may
    /// not have written for more than 24 hours). Idempotent per entry.
    async fn send_offer(
        &self,
        e: &Entry,
        req: &pb::CreateBookingRequest,
        view: &crate::bookings::BookingView,
        code: &str,
        expires: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        let office = self.office(&e.office_code).await?;
        let zone = antrean_platform::domain::indonesian_zone_abbreviation(office.tz);
        let contact = req.contact.clone().unwrap_or_default();
        let params = [
            (
                "name",
                view.applicants
                    .first()
                    .map(|a| a.name.clone())
                    .unwrap_or_default(),
            ),
            ("office_name", office.name.clone()),
            ("date", tanggal(e.date)),
            ("session", e.session.clone()),
            ("code", code.to_owned()),
            (
                "expires_local",
                format!("{} {zone}", local_hhmm(office.tz, expires)),
            ),
        ];
        self.notification
            .clone()
            .send(pb::SendRequest {
                idempotency_key: format!("waitlist-offer:{}", e.id),
                channel: pb::Channel::Whatsapp as i32,
                recipient: Some(pb::Recipient {
                    // Validated when joining; stored as typed.
                    phone: antrean_platform::phone::normalize(&contact.phone)
                        .unwrap_or(contact.phone),
                    whatsapp_user_id: contact.whatsapp_user_id,
                    email: String::new(),
                }),
                sender_phone_number_id: office.phone_number_id.clone(),
                template: "waitlist_offer".into(),
                parameters: params.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
                attachment: None,
            })
            .await?;
        Ok(())
    }
}

pub fn entry_proto(e: &Entry, position: u32) -> pb::WaitlistEntry {
    pb::WaitlistEntry {
        entry_id: e.id.to_string(),
        position,
        state: e.state.clone(),
    }
}
