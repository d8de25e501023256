//! The queue at the counters: tickets, calling with fairness between the appointment and
//! priority lanes, walk-ins from the priority capacity, and its roll-over to the general pool.
//!
//! Every call locks the office's `call_state` row for the day, so two counters calling at the
//! same moment get different tickets and the fairness count stays exact. Every staff action
//! is written to `staff_actions` in the transaction of the change.
use crate::bookings::{Bookings, change};
use crate::error::{BookingError, Result};
use crate::status::BookingStatus;
use antrean_platform::actor::{Actor, Permission, Role};
use antrean_platform::audit;
use antrean_platform::domain::{
    SessionOfDay, format_date, format_hhmm, local_date, local_instant, parse_date, parse_hhmm,
};
use antrean_platform::status::FieldViolation;
use antrean_platform::status::Reason;
use antrean_proto::v1 as pb;
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::json;
use sqlx::{FromRow, PgConnection};
use tonic::Code;
use uuid::Uuid;

/// Reasons for walk-in priority service.
pub const PRIORITY_REASONS: [&str; 5] = ["ELDERLY", "DISABLED", "PREGNANT", "NURSING", "INFANT"];

#[derive(Debug, Clone, FromRow)]
pub struct Ticket {
    pub id: Uuid,
    pub office_code: String,
    pub date: NaiveDate,
    pub session: String,
    pub priority: bool,
    pub booking_id: Option<Uuid>,
    pub queue_number: String,
    pub name: String,
    pub priority_reason: String,
    pub order_at: DateTime<Utc>,
    pub state: String,
    pub counter: String,
    pub called_at: Option<DateTime<Utc>>,
    pub recalls: i32,
    pub call_seq: Option<i64>,
    pub position: Option<i32>,
    pub finished_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    /// The first call: the end of the wait from check-in (recalls move `called_at`).
    pub first_called_at: Option<DateTime<Utc>>,
    /// The pickup lane (C-...).
    pub pickup: bool,
}

#[derive(Debug, Clone, FromRow)]
pub struct PriorityRow {
    pub office_code: String,
    pub date: NaiveDate,
    pub session: String,
    pub capacity: i32,
    pub used: i32,
    pub cutoff_local: String,
    pub rolled_over: bool,
    pub cutoff_at: DateTime<Utc>,
}

/// What a staff member does to a called ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TicketAction {
    Recall,
    Skip,
    Serve,
}

fn invalid(field: &str, id: &str, en: &str) -> BookingError {
    BookingError::Invalid(vec![FieldViolation::bilingual(field, id, en)])
}

pub(crate) async fn lock_call_state(
    conn: &mut PgConnection,
    office: &str,
    date: NaiveDate,
) -> Result<(i32, i32)> {
    sqlx::query!(
        "INSERT INTO call_state (office_code, date) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        office,
        date
    )
    .execute(&mut *conn)
    .await?;
    let c = sqlx::query!(
        "SELECT since_priority, last_walk_in FROM call_state
         WHERE office_code = $1 AND date = $2 FOR UPDATE",
        office,
        date
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok((c.since_priority, c.last_walk_in))
}

#[allow(clippy::too_many_arguments)]
async fn record(
    conn: &mut PgConnection,
    by: &Actor,
    action: &str,
    office: &str,
    target: &str,
    before: Option<serde_json::Value>,
    after: Option<serde_json::Value>,
    at: DateTime<Utc>,
) -> Result<()> {
    audit::record(
        conn,
        audit::Action {
            actor: by,
            action,
            office_code: office,
            target,
            before,
            after,
            at,
        },
    )
    .await?;
    Ok(())
}

pub fn ticket_proto(t: &Ticket) -> pb::QueueTicket {
    pb::QueueTicket {
        ticket_id: t.id.to_string(),
        queue_number: t.queue_number.clone(),
        office_code: t.office_code.clone(),
        counter: t.counter.clone(),
        booking_id: t.booking_id.map(|b| b.to_string()).unwrap_or_default(),
        priority: t.priority,
        state: t.state.clone(),
        called_at: t.called_at.map(antrean_platform::domain::to_timestamp),
        name: t.name.clone(),
        priority_reason: t.priority_reason.clone(),
        session: t
            .session
            .parse::<SessionOfDay>()
            .map(|s| s.to_proto() as i32)
            .unwrap_or_default(),
        recalls: t.recalls as u32,
        order_at: Some(antrean_platform::domain::to_timestamp(t.order_at)),
        pickup: t.pickup,
    }
}

/// Tickets for every person of a booking that has just checked in, in its transaction.
pub async fn issue_appointment_tickets(
    conn: &mut PgConnection,
    booking_id: Uuid,
    at: DateTime<Utc>,
) -> Result<()> {
    sqlx::query!(
        "INSERT INTO tickets (id, office_code, date, session, priority, booking_id, position,
            queue_number, name, order_at, state, created_at)
         SELECT gen_random_uuid(), office_code, date, session, false, booking_id, position,
            queue_number, name, scheduled_at, 'WAITING', $2
         FROM booking_applicants WHERE booking_id = $1
         ON CONFLICT (booking_id, position) WHERE NOT pickup DO NOTHING",
        booking_id,
        at
    )
    .execute(conn)
    .await?;
    Ok(())
}

impl Bookings {
    /// The office's local date now.
    async fn today(&self, office: &str) -> Result<NaiveDate> {
        let info = self.office(office).await?;
        Ok(local_date(info.tz, self.now()))
    }

    /// The next person for `counter`: see the module docs for the order.
    pub async fn call_next(
        &self,
        by: &Actor,
        office: &str,
        counter: &str,
        pickup: bool,
    ) -> Result<Ticket> {
        let counter = counter.trim();
        if counter.is_empty() || counter.chars().count() > 20 {
            return Err(invalid(
                "counter",
                "wajib diisi, paling panjang 20 karakter (mis. \"Loket 3\")",
                "required, at most 20 characters (e.g. \"Loket 3\")",
            ));
        }
        let office = office.trim().to_uppercase();
        let today = self.today(&office).await?;
        let now = self.now();
        let every = i32::from(self.config().priority_every.max(2));
        let mut tx = self.pool().begin().await?;
        let (since_priority, _) = lock_call_state(&mut tx, &office, today).await?;
        let next = |priority: bool, pickup: bool| {
            sqlx::query_as::<_, Ticket>(
                "SELECT * FROM tickets
                 WHERE office_code = $1 AND date = $2 AND state = 'WAITING' AND priority = $3
                   AND pickup = $4
                 ORDER BY order_at, queue_number LIMIT 1",
            )
            .bind(&office)
            .bind(today)
            .bind(priority)
            .bind(pickup)
        };
        // The pickup lane is called on its own (its counter hands passports over).
        let (appointment, priority) = if pickup {
            (next(false, true).fetch_optional(&mut *tx).await?, None)
        } else {
            (
                next(false, false).fetch_optional(&mut *tx).await?,
                next(true, false).fetch_optional(&mut *tx).await?,
            )
        };
        // One priority ticket after every (every - 1) appointments while both lanes wait.
        let pick = match (appointment, priority) {
            (Some(_), Some(p)) if since_priority >= every - 1 => p,
            (Some(a), _) => a,
            (None, Some(p)) => p,
            (None, None) => {
                return Err(crate::error::refused(
                    Code::NotFound,
                    Reason::QueueEmpty,
                    "Tidak ada pemohon yang menunggu.".into(),
                    "Nobody is waiting.".into(),
                ));
            }
        };
        sqlx::query!(
            "UPDATE call_state SET since_priority = $3 WHERE office_code = $1 AND date = $2",
            &office,
            today,
            match (pick.priority, pick.pickup) {
                (true, _) => 0,
                (false, true) => since_priority,
                (false, false) => since_priority + 1,
            }
        )
        .execute(&mut *tx)
        .await?;
        let called: Ticket = sqlx::query_as!(
            Ticket,
            "UPDATE tickets SET state = 'CALLED', counter = $2, called_at = $3,
                first_called_at = COALESCE(first_called_at, $3),
                call_seq = nextval('ticket_calls')
             WHERE id = $1 RETURNING *",
            pick.id,
            counter,
            now
        )
        .fetch_one(&mut *tx)
        .await?;
        record(
            &mut tx,
            by,
            "CallNext",
            &office,
            &called.queue_number,
            Some(json!({"state": "WAITING"})),
            Some(json!({"state": "CALLED", "counter": counter})),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(called)
    }

    /// Recall, skip or serve a CALLED ticket, after checking the actor works at its office.
    pub async fn ticket_action(
        &self,
        by: &Actor,
        id: &str,
        action: TicketAction,
    ) -> Result<Ticket> {
        let id = Uuid::parse_str(id.trim())
            .map_err(|_| invalid("ticket_id", "bukan ID tiket yang valid", "not a ticket id"))?;
        let now = self.now();
        let mut tx = self.pool().begin().await?;
        let t: Ticket =
            sqlx::query_as!(Ticket, "SELECT * FROM tickets WHERE id = $1 FOR UPDATE", id)
                .fetch_optional(&mut *tx)
                .await?
                .ok_or(BookingError::NotFound)?;
        by.require(Permission::Operate, &t.office_code)
            .map_err(|s| BookingError::Refused(Box::new(s)))?;
        if t.state != "CALLED" {
            return Err(crate::error::refused(
                Code::FailedPrecondition,
                Reason::TicketNotCalled,
                format!(
                    "Nomor {} tidak sedang dipanggil ({}).",
                    t.queue_number, t.state
                ),
                format!("{} is not being called ({}).", t.queue_number, t.state),
            ));
        }
        let (after, name) = match action {
            TicketAction::Recall => (
                sqlx::query_as!(
                    Ticket,
                    "UPDATE tickets SET recalls = recalls + 1, called_at = $2,
                        call_seq = nextval('ticket_calls')
                     WHERE id = $1 RETURNING *",
                    id,
                    now
                )
                .fetch_one(&mut *tx)
                .await?,
                "Recall",
            ),
            TicketAction::Skip => (
                sqlx::query_as!(
                    Ticket,
                    "UPDATE tickets SET state = 'SKIPPED', finished_at = $2 WHERE id = $1 RETURNING *",
                    id,
                    now
                )
                .fetch_one(&mut *tx)
                .await?,
                "Skip",
            ),
            TicketAction::Serve => (
                sqlx::query_as!(
                    Ticket,
                    "UPDATE tickets SET state = 'SERVED', finished_at = $2 WHERE id = $1 RETURNING *",
                    id,
                    now
                )
                .fetch_one(&mut *tx)
                .await?,
                "MarkServed",
            ),
        };
        // The booking is served once nobody of it waits or stands at a counter any more.
        if let (TicketAction::Serve, Some(booking)) = (action, t.booking_id) {
            let open: i64 = sqlx::query_scalar!(r#"SELECT count(*) AS "n!" FROM tickets WHERE booking_id = $1 AND state IN ('WAITING', 'CALLED') AND NOT pickup"#, booking)
            .fetch_one(&mut *tx)
            .await?;
            let status: BookingStatus =
                sqlx::query_scalar!(r#"SELECT status AS "status: BookingStatus" FROM bookings WHERE id = $1 FOR UPDATE"#, booking)
                    .fetch_one(&mut *tx)
                    .await?;
            if open == 0 && status == BookingStatus::CheckedIn {
                change(&mut tx, booking, status, BookingStatus::Served, "", now).await?;
            }
        }
        // Serving a pickup ticket hands the ready passports over.
        let handed = if action == TicketAction::Serve {
            crate::progress::hand_over(&mut tx, &t, &by.staff_id, now).await?
        } else {
            None
        };
        record(
            &mut tx,
            by,
            name,
            &t.office_code,
            &t.queue_number,
            Some(json!({"state": t.state, "recalls": t.recalls})),
            Some(json!({"state": after.state, "recalls": after.recalls})),
            now,
        )
        .await?;
        tx.commit().await?;
        if let Some(b) = handed {
            self.tell_stages(&b).await;
        }
        Ok(after)
    }

    /// A walk-in priority ticket from the session's priority seats, or a forfeited booking's
    /// people moved into the walk-in lane.
    pub async fn create_walk_in(&self, by: &Actor, r: &pb::CreateWalkInRequest) -> Result<Ticket> {
        let office = r.office_code.trim().to_uppercase();
        let today = self.today(&office).await?;
        let now = self.now();
        if !r.forfeited_booking_code.trim().is_empty() {
            return self
                .move_forfeited(by, &office, today, &r.forfeited_booking_code)
                .await;
        }
        let mut v = Vec::new();
        let name = r.name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            v.push(FieldViolation::bilingual(
                "name",
                "wajib diisi, paling panjang 100 karakter",
                "required, at most 100 characters",
            ));
        }
        let reason = r.priority_reason.trim().to_uppercase();
        if !PRIORITY_REASONS.contains(&reason.as_str()) {
            v.push(FieldViolation::bilingual(
                "priority_reason",
                "pilih ELDERLY (lansia), DISABLED (disabilitas), PREGNANT (hamil), NURSING (menyusui) atau INFANT (bayi/balita)",
                "choose ELDERLY, DISABLED, PREGNANT, NURSING or INFANT",
            ));
        }
        let session = SessionOfDay::from_proto(r.session);
        if session.is_none() {
            v.push(FieldViolation::bilingual(
                "session",
                "pilih SESSION_PAGI atau SESSION_SIANG",
                "choose SESSION_PAGI or SESSION_SIANG",
            ));
        }
        if !v.is_empty() {
            return Err(BookingError::Invalid(v));
        }
        let session = session.ok_or(BookingError::Invalid(Vec::new()))?;
        let mut tx = self.pool().begin().await?;
        let quota: Option<PriorityRow> = sqlx::query_as!(
            PriorityRow,
            "SELECT * FROM priority_quota WHERE office_code = $1 AND date = $2 AND session = $3
             FOR UPDATE",
            &office,
            today,
            session.as_str()
        )
        .fetch_optional(&mut *tx)
        .await?;
        let Some(quota) = quota.filter(|q| q.used < q.capacity && !q.rolled_over) else {
            return Err(crate::error::refused(
                Code::ResourceExhausted,
                Reason::PriorityQuotaExhausted,
                format!(
                    "Kuota layanan prioritas sesi {session} hari ini sudah habis atau sudah dialihkan ke kuota umum."
                ),
                format!(
                    "Today's {session} priority seats are used up or were returned to the general pool."
                ),
            ));
        };
        sqlx::query!(
            "UPDATE priority_quota SET used = used + 1
             WHERE office_code = $1 AND date = $2 AND session = $3",
            &office,
            today,
            session.as_str()
        )
        .execute(&mut *tx)
        .await?;
        let t = issue_walk_in(
            &mut tx,
            &office,
            today,
            session.as_str(),
            None,
            None,
            name,
            &reason,
            now,
        )
        .await?;
        record(
            &mut tx,
            by,
            "CreateWalkIn",
            &office,
            &t.queue_number,
            Some(json!({"priority_used": quota.used})),
            Some(json!({"priority_used": quota.used + 1, "reason": reason, "session": session.as_str()})),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(t)
    }

    async fn move_forfeited(
        &self,
        by: &Actor,
        office: &str,
        today: NaiveDate,
        code: &str,
    ) -> Result<Ticket> {
        let code = Self::parse_code(code)?;
        let now = self.now();
        let mut tx = self.pool().begin().await?;
        let b = sqlx::query!(
            r#"SELECT id, office_code, status AS "status: BookingStatus", date, session
               FROM bookings WHERE booking_code = $1 FOR UPDATE"#,
            code.as_str()
        )
        .fetch_optional(&mut *tx)
        .await?
        .map(|b| (b.id, b.office_code, b.status, b.date, b.session));
        let (id, b_office, status, date, session) = b.ok_or(BookingError::NotFound)?;
        if b_office != office {
            return Err(BookingError::WrongOffice {
                booking_office: b_office,
            });
        }
        if date != today {
            return Err(BookingError::WrongDate { booking_date: date });
        }
        if status != BookingStatus::Forfeited {
            return Err(crate::error::refused(
                Code::FailedPrecondition,
                Reason::NotForfeited,
                "Hanya booking yang hangus (terlambat) yang dapat dipindahkan ke antrean walk-in."
                    .into(),
                "Only a forfeited (late) booking can move to the walk-in lane.".into(),
            ));
        }
        let people: Vec<(i32, String)> = sqlx::query!(
            "SELECT position, name FROM booking_applicants WHERE booking_id = $1 ORDER BY position",
            id
        )
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .map(|p| (p.position, p.name))
        .collect();
        let existing: Option<Ticket> = sqlx::query_as!(
            Ticket,
            "SELECT * FROM tickets WHERE booking_id = $1 AND NOT pickup ORDER BY position LIMIT 1",
            id
        )
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(t) = existing {
            // Already moved: the same answer again.
            return Ok(t);
        }
        let mut first = None;
        for (position, name) in &people {
            let t = issue_walk_in(
                &mut tx,
                office,
                today,
                &session,
                Some(id),
                Some(*position),
                name,
                "LATE",
                now,
            )
            .await?;
            first.get_or_insert(t);
        }
        let first = first.ok_or(BookingError::NotFound)?;
        record(
            &mut tx,
            by,
            "MoveForfeitedToWalkIn",
            office,
            &id.to_string(),
            Some(json!({"status": "FORFEITED"})),
            Some(json!({"first_ticket": first.queue_number, "people": people.len()})),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(first)
    }

    /// Sets a session's priority seats (office heads of the office, directorate admins).
    pub async fn set_priority_capacity(
        &self,
        by: &Actor,
        r: &pb::SetPriorityCapacityRequest,
    ) -> Result<PriorityRow> {
        let office = r.office_code.trim().to_uppercase();
        let info = self.office(&office).await?;
        let mut v = Vec::new();
        let date = parse_date(&r.date);
        if date.is_none() {
            v.push(FieldViolation::bilingual(
                "date",
                "format YYYY-MM-DD",
                "format YYYY-MM-DD",
            ));
        }
        let session = SessionOfDay::from_proto(r.session);
        if session.is_none() {
            v.push(FieldViolation::bilingual(
                "session",
                "pilih SESSION_PAGI atau SESSION_SIANG",
                "choose SESSION_PAGI or SESSION_SIANG",
            ));
        }
        if r.priority_capacity > 1_000 {
            v.push(FieldViolation::bilingual(
                "priority_capacity",
                "paling banyak 1000",
                "at most 1000",
            ));
        }
        let cutoff = match r.cutoff_local.trim() {
            "" => session
                .and_then(|s| info.hours.get(&s))
                .map(|(start, _)| *start + chrono::Duration::hours(1)),
            hhmm => {
                let t = parse_hhmm(hhmm);
                if t.is_none() {
                    v.push(FieldViolation::bilingual(
                        "cutoff_local",
                        "format HH:MM",
                        "format HH:MM",
                    ));
                }
                t
            }
        };
        if !v.is_empty() {
            return Err(BookingError::Invalid(v));
        }
        let (date, session) = (
            date.ok_or(BookingError::Invalid(Vec::new()))?,
            session.ok_or(BookingError::Invalid(Vec::new()))?,
        );
        let cutoff =
            cutoff.unwrap_or_else(|| chrono::NaiveTime::from_hms_opt(10, 0, 0).unwrap_or_default());
        if date < local_date(info.tz, self.now()) {
            return Err(invalid(
                "date",
                "tanggal sudah lewat",
                "the date has passed",
            ));
        }
        let now = self.now();
        let mut tx = self.pool().begin().await?;
        let before: Option<PriorityRow> = sqlx::query_as!(PriorityRow, "SELECT * FROM priority_quota WHERE office_code = $1 AND date = $2 AND session = $3 FOR UPDATE", &office, date, session.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(b) = &before {
            if b.rolled_over {
                return Err(crate::error::refused(
                    Code::FailedPrecondition,
                    Reason::PriorityRolledOver,
                    "Kuota prioritas sesi ini sudah dialihkan ke kuota umum.".into(),
                    "This session's priority seats were already returned to the general pool."
                        .into(),
                ));
            }
            if (r.priority_capacity as i32) < b.used {
                return Err(invalid(
                    "priority_capacity",
                    &format!("tidak boleh kurang dari yang sudah dipakai ({})", b.used),
                    &format!("cannot be less than already used ({})", b.used),
                ));
            }
        }
        let row: PriorityRow = sqlx::query_as!(PriorityRow, "INSERT INTO priority_quota (office_code, date, session, capacity, cutoff_at, cutoff_local)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (office_code, date, session) DO UPDATE
                SET capacity = $4, cutoff_at = $5, cutoff_local = $6
             RETURNING *", &office, date, session.as_str(), r.priority_capacity as i32, local_instant(info.tz, date, cutoff), format_hhmm(cutoff))
        .fetch_one(&mut *tx)
        .await?;
        record(
            &mut tx,
            by,
            "SetPriorityCapacity",
            &office,
            &format!("{office} {} {}", format_date(date), session.as_str()),
            before.map(|b| json!({"capacity": b.capacity, "cutoff_local": b.cutoff_local})),
            Some(json!({"capacity": row.capacity, "cutoff_local": row.cutoff_local})),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(row)
    }

    /// After a session's cut-off, adds its unused priority seats to the session's general
    /// capacity in the quota service (AddCapacity, once per session by its idempotency key,
    /// so a retry after a crash adds nothing twice). Answers how many sessions rolled over.
    pub async fn roll_over_priority(&self) -> Result<usize> {
        let now = self.now();
        let due: Vec<PriorityRow> = sqlx::query_as!(
            PriorityRow,
            "SELECT * FROM priority_quota WHERE NOT rolled_over AND cutoff_at <= $1 LIMIT 100",
            now
        )
        .fetch_all(self.pool())
        .await?;
        let mut done = 0;
        for q in due {
            let unused = (q.capacity - q.used).max(0);
            let session = q
                .session
                .parse::<SessionOfDay>()
                .map_err(|_| BookingError::NotFound)?;
            let mut general = None;
            if unused > 0 {
                let system = self.system_actor();
                let s = self
                    .quota
                    .clone()
                    .add_capacity(antrean_platform::actor::with_token(
                        tonic::Request::new(pb::AddCapacityRequest {
                            office_code: q.office_code.clone(),
                            date: format_date(q.date),
                            session: session.to_proto() as i32,
                            seats: unused as u32,
                            // Once per session, however often this is retried.
                            idempotency_key: format!(
                                "priority-rollover:{}:{}:{}",
                                q.office_code,
                                format_date(q.date),
                                q.session
                            ),
                        }),
                        &system.1,
                    ))
                    .await?
                    .into_inner();
                general = Some(s.capacity);
            }
            let mut tx = self.pool().begin().await?;
            sqlx::query!(
                "UPDATE priority_quota SET rolled_over = true
                 WHERE office_code = $1 AND date = $2 AND session = $3",
                &q.office_code,
                q.date,
                &q.session
            )
            .execute(&mut *tx)
            .await?;
            record(
                &mut tx,
                &self.system_actor().0,
                "PriorityRollover",
                &q.office_code,
                &format!("{} {} {}", q.office_code, format_date(q.date), q.session),
                Some(json!({"priority_capacity": q.capacity, "used": q.used})),
                Some(json!({"returned_to_general": unused, "general_capacity": general})),
                now,
            )
            .await?;
            tx.commit().await?;
            done += 1;
        }
        Ok(done)
    }

    /// The service itself, acting on a rule (roll-over): recorded as `sistem`.
    fn system_actor(&self) -> (Actor, String) {
        let actor = Actor {
            staff_id: "system".into(),
            username: "sistem".into(),
            role: Role::DirectorateAdmin,
            office_code: String::new(),
            expires_at: self.now().timestamp() + 300,
        };
        let token = self.tokens().sign(&actor);
        (actor, token)
    }

    /// Today's board of an office: the ticket last called at each counter and the counts.
    pub async fn queue_board(&self, office: &str) -> Result<pb::QueueBoard> {
        let office = office.trim().to_uppercase();
        let info = self.office(&office).await?;
        let today = local_date(info.tz, self.now());
        let mut called: Vec<Ticket> = sqlx::query_as!(
            Ticket,
            "SELECT DISTINCT ON (counter) * FROM tickets
             WHERE office_code = $1 AND date = $2 AND call_seq IS NOT NULL
             ORDER BY counter, call_seq DESC",
            &office,
            today
        )
        .fetch_all(self.pool())
        .await?;

        called.sort_by_key(|t| std::cmp::Reverse(t.call_seq));
        let counts = sqlx::query!(
            r#"SELECT count(*) FILTER (WHERE state = 'WAITING' AND NOT priority AND NOT pickup) AS "appointments!",
                    count(*) FILTER (WHERE state = 'WAITING' AND priority) AS "priority!",
                    count(*) FILTER (WHERE state = 'WAITING' AND pickup) AS "pickup!",
                    count(*) FILTER (WHERE state = 'SERVED') AS "served!"
             FROM tickets WHERE office_code = $1 AND date = $2"#,
            &office,
            today
        )
        .fetch_one(self.pool())
        .await?;
        let (wa, wp, served) = (counts.appointments, counts.priority, counts.served);
        let waiting_pickup = counts.pickup as u32;
        let pickup_hours = self.pickup_hours_text(&office, info.tz).await?;
        Ok(pb::QueueBoard {
            office_code: office,
            office_name: info.name.clone(),
            date: format_date(today),
            called: called
                .iter()
                .map(|t| pb::QueueTicket {
                    // The public board shows numbers and counters, never names.
                    name: String::new(),
                    booking_id: String::new(),
                    priority_reason: String::new(),
                    ..ticket_proto(t)
                })
                .collect(),
            waiting_appointments: wa as u32,
            waiting_priority: wp as u32,
            served: served as u32,
            waiting_pickup,
            pickup_hours,
            updated_at: Some(antrean_platform::domain::to_timestamp(self.now())),
        })
    }
}

#[allow(clippy::too_many_arguments)]
async fn issue_walk_in(
    conn: &mut PgConnection,
    office: &str,
    date: NaiveDate,
    session: &str,
    booking_id: Option<Uuid>,
    position: Option<i32>,
    name: &str,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<Ticket> {
    lock_call_state(conn, office, date).await?;
    let n: i32 = sqlx::query_scalar!(
        "UPDATE call_state SET last_walk_in = last_walk_in + 1
         WHERE office_code = $1 AND date = $2 RETURNING last_walk_in",
        office,
        date
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok(sqlx::query_as!(
        Ticket,
        "INSERT INTO tickets (id, office_code, date, session, priority, booking_id, position,
            queue_number, name, priority_reason, order_at, state, created_at)
         VALUES ($1, $2, $3, $4, true, $5, $6, $7, $8, $9, $10, 'WAITING', $10)
         RETURNING *",
        Uuid::now_v7(),
        office,
        date,
        session,
        booking_id,
        position,
        format!("P-{n:03}"),
        name,
        reason,
        now
    )
    .fetch_one(conn)
    .await?)
}
