//! `antrean.v1.BookingService`: thin methods over [`Bookings`].
use crate::bookings::{BookingView, Bookings};
use crate::error::BookingError;
use crate::queue::{self, TicketAction};
use antrean_platform::actor::{Actor, Permission};
use antrean_platform::domain::{SessionOfDay, format_date, from_timestamp, parse_date};
use antrean_platform::grpc::AllowList;
use antrean_platform::status::FieldViolation;
use antrean_proto::v1 as pb;
use antrean_proto::v1::booking_service_server::{BookingService, BookingServiceServer};
use std::sync::Arc;
use tonic::{Request, Response, Status};

/// Who may call each RPC (mutual TLS; see `antrean_platform::grpc::AllowList`): channels
/// (this gateway and outside channel gateways) book for applicants; staff RPCs come from the
/// gateway's console or operators' tools, with an actor token as well.
pub static ALLOW: AllowList = AllowList {
    service: "antrean.v1.BookingService",
    methods: &[
        ("CreateBooking", CHANNELS),
        ("ConfirmBooking", CHANNELS),
        ("CancelBooking", CHANNELS),
        ("RescheduleBooking", CHANNELS),
        ("RelocateBookings", STAFF),
        ("Reconfirm", CHANNELS),
        ("JoinWaitlist", CHANNELS),
        ("GetBooking", ALL),
        ("GetDraw", ALL),
        ("ListBookings", STAFF),
        ("CheckIn", STAFF),
        ("CallNext", STAFF),
        ("Recall", STAFF),
        ("Skip", STAFF),
        ("MarkServed", STAFF),
        ("CreateWalkIn", STAFF),
        ("SetPriorityCapacity", STAFF),
        ("GetQueueBoard", STAFF),
        ("GetStats", STAFF),
        ("SetReconfirmation", STAFF),
        ("AdvanceStage", STAFF),
        ("CheckInPickup", STAFF),
        ("SetPickupHours", STAFF),
    ],
};
const CHANNELS: &[&str] = &["gateway", "channel"];
const STAFF: &[&str] = &["gateway", "operator"];
const ALL: &[&str] = &["gateway", "channel", "operator"];

#[derive(Clone)]
pub struct BookingGrpc {
    bookings: Arc<Bookings>,
}

impl BookingGrpc {
    pub fn new(bookings: Arc<Bookings>) -> Self {
        Self { bookings }
    }

    pub fn into_server(self) -> BookingServiceServer<Self> {
        BookingServiceServer::new(self)
    }

    /// The staff member behind a staff RPC, allowed to do `what` in `office`.
    fn staff<T>(&self, req: &Request<T>, what: Permission, office: &str) -> Result<Actor, Status> {
        let actor = self
            .bookings
            .tokens()
            .actor(req, self.bookings.now().timestamp())?;
        actor.require(what, office.trim())?;
        Ok(actor)
    }

    async fn ticket_action(
        &self,
        req: Request<pb::TicketActionRequest>,
        action: TicketAction,
    ) -> Result<Response<pb::QueueTicket>, Status> {
        // The ticket's office is checked once the ticket is read.
        let by = self
            .bookings
            .tokens()
            .actor(&req, self.bookings.now().timestamp())?;
        let r = req.into_inner();
        let t = self
            .bookings
            .ticket_action(&by, &r.ticket_id, action)
            .await?;
        Ok(Response::new(queue::ticket_proto(&t)))
    }

    fn to_proto(&self, v: &BookingView) -> pb::Booking {
        self.bookings.to_proto(v)
    }

    /// The office's pickup hours on a booking with a passport ready (or handed over).
    async fn with_pickup(&self, mut b: pb::Booking) -> Result<pb::Booking, Status> {
        let ready = b
            .applicants
            .iter()
            .any(|a| a.stage >= pb::ApplicationStage::ReadyForPickup as i32);
        if ready {
            let tz = self.bookings.office(&b.office_code).await?.tz;
            b.pickup_hours = self.bookings.pickup_hours_text(&b.office_code, tz).await?;
        }
        Ok(b)
    }
}

fn required(field: &str, value: &str) -> Result<(), Status> {
    if value.trim().is_empty() {
        return Err(BookingError::Invalid(vec![FieldViolation::new(field, "wajib diisi")]).into());
    }
    Ok(())
}

#[tonic::async_trait]
impl BookingService for BookingGrpc {
    async fn create_booking(
        &self,
        req: Request<pb::CreateBookingRequest>,
    ) -> Result<Response<pb::CreateBookingResponse>, Status> {
        // A helpdesk booking (CHANNEL_STAFF): staff of the office book for an applicant who
        // cannot, in person, so it is confirmed at once; only with an actor token that may
        // operate that office, and it is audited.
        let staff = if req.get_ref().channel == pb::Channel::Staff as i32 {
            let office = req.get_ref().office_code.trim().to_uppercase();
            Some(self.staff(&req, Permission::Operate, &office)?)
        } else {
            None
        };
        let r = req.into_inner();
        let created = match &staff {
            Some(by) => self.bookings.create_for(by, r).await?,
            None => self.bookings.create(r).await?,
        };
        Ok(Response::new(match created {
            crate::bookings::Created::Booking(view, code) => pb::CreateBookingResponse {
                booking: Some(self.to_proto(&view)),
                confirmation_code: code,
                entry: None,
            },
            crate::bookings::Created::Entry(e) => pb::CreateBookingResponse {
                booking: None,
                confirmation_code: String::new(),
                entry: Some(pb::DrawEntry {
                    entry_id: e.entry.id.to_string(),
                    office_code: e.entry.office_code.clone(),
                    date: antrean_platform::domain::format_date(e.entry.date),
                    session: e
                        .entry
                        .session
                        .parse::<antrean_platform::domain::SessionOfDay>()
                        .map_or(0, |s| s.to_proto() as i32),
                    seats: e.entry.seats as u32,
                    draw_at: Some(antrean_platform::domain::to_timestamp(e.draw_at)),
                    draw_at_local: e.draw_at_local,
                }),
            },
        }))
    }

    async fn get_draw(
        &self,
        req: Request<pb::GetDrawRequest>,
    ) -> Result<Response<pb::Draw>, Status> {
        let r = req.into_inner();
        Ok(Response::new(
            self.bookings
                .published_draw(&r.office_code, &r.date)
                .await?,
        ))
    }

    async fn confirm_booking(
        &self,
        req: Request<pb::ConfirmBookingRequest>,
    ) -> Result<Response<pb::Booking>, Status> {
        let r = req.into_inner();
        let v = self
            .bookings
            .confirm(&r.booking_id, &r.confirmation_code)
            .await?;
        Ok(Response::new(self.to_proto(&v)))
    }

    async fn reschedule_booking(
        &self,
        req: Request<pb::RescheduleBookingRequest>,
    ) -> Result<Response<pb::Booking>, Status> {
        let r = req.into_inner();
        required("booking_code", &r.booking_code)?;
        required("contact_phone", &r.contact_phone)?;
        let via = pb::Channel::try_from(r.requested_via).unwrap_or_default();
        let moved = self
            .bookings
            .reschedule(&r.booking_code, &r.contact_phone, &r.date, r.session, via)
            .await?;
        // The old seats are back: their session's waitlist gets them now.
        if let Some((date, session)) = &moved.moved_from
            && let Ok(session) = session.parse::<SessionOfDay>()
        {
            let (bookings, office, date) = (
                self.bookings.clone(),
                moved.booking.office_code.clone(),
                *date,
            );
            tokio::spawn(async move {
                if let Err(e) = bookings.promote(&office, date, session).await {
                    tracing::warn!(error = %e, "waitlist promotion after a reschedule failed");
                }
            });
        }
        Ok(Response::new(self.to_proto(&moved)))
    }

    async fn relocate_bookings(
        &self,
        req: Request<pb::RelocateBookingsRequest>,
    ) -> Result<Response<pb::RelocationReport>, Status> {
        let office = req.get_ref().office_code.trim().to_uppercase();
        let by = self.staff(&req, Permission::Manage, &office)?;
        let r = req.into_inner();
        let date = crate::relocate::closed_date(&r.date)?;
        let overflow = SessionOfDay::from_proto(r.session).map(|s| (s, r.keep));
        let report = self
            .bookings
            .relocate(&by, &office, date, r.reason.trim(), overflow)
            .await?;
        Ok(Response::new(report.into()))
    }

    async fn cancel_booking(
        &self,
        req: Request<pb::CancelBookingRequest>,
    ) -> Result<Response<pb::Booking>, Status> {
        let r = req.into_inner();
        required("booking_code", &r.booking_code)?;
        required("contact_phone", &r.contact_phone)?;
        let v = self
            .bookings
            .cancel(&r.booking_code, &r.contact_phone)
            .await?;
        // The seats are back: the session's waitlist gets them now, not at the next sweep.
        if let Ok(session) = v.booking.session.parse::<SessionOfDay>() {
            let (bookings, office, date) = (
                self.bookings.clone(),
                v.booking.office_code.clone(),
                v.booking.date,
            );
            tokio::spawn(async move {
                if let Err(e) = bookings.promote(&office, date, session).await {
                    tracing::warn!(error = %e, "waitlist promotion after a cancellation failed");
                }
            });
        }
        Ok(Response::new(self.to_proto(&v)))
    }

    async fn get_booking(
        &self,
        req: Request<pb::GetBookingRequest>,
    ) -> Result<Response<pb::Booking>, Status> {
        // Staff look a code up at their office without the applicant's phone.
        let g = req.get_ref();
        let by_staff = g.contact_phone.trim().is_empty() && !g.office_code.trim().is_empty();
        if by_staff {
            self.staff(&req, Permission::Operate, &g.office_code)?;
        }
        let r = req.into_inner();
        let v = match r.key {
            Some(pb::get_booking_request::Key::BookingId(id)) => self.bookings.by_id(&id).await?,
            Some(pb::get_booking_request::Key::BookingCode(code)) if by_staff => {
                self.bookings.at_office(&code, &r.office_code).await?
            }
            Some(pb::get_booking_request::Key::BookingCode(code)) => {
                required("contact_phone", &r.contact_phone)?;
                self.bookings.by_code(&code, &r.contact_phone).await?
            }
            None => {
                return Err(BookingError::Invalid(vec![FieldViolation::new(
                    "booking_code",
                    "isi booking_id atau booking_code",
                )])
                .into());
            }
        };
        Ok(Response::new(self.with_pickup(self.to_proto(&v)).await?))
    }

    async fn list_bookings(
        &self,
        req: Request<pb::ListBookingsRequest>,
    ) -> Result<Response<pb::ListBookingsResponse>, Status> {
        let r = req.into_inner();
        if r.contact_token.trim().is_empty() {
            required("contact_phone", &r.contact_phone)?;
        }
        let list = match self.bookings.list(&r.contact_phone, &r.contact_token).await {
            Err(BookingError::NotFound) => Vec::new(),
            other => other?,
        };
        let mut bookings = Vec::with_capacity(list.len());
        for v in &list {
            bookings.push(self.with_pickup(self.to_proto(v)).await?);
        }
        Ok(Response::new(pb::ListBookingsResponse { bookings }))
    }

    async fn check_in(
        &self,
        req: Request<pb::CheckInRequest>,
    ) -> Result<Response<pb::Booking>, Status> {
        let by = self.staff(&req, Permission::Operate, &req.get_ref().office_code)?;
        let r = req.into_inner();
        required("booking_code", &r.booking_code)?;
        required("office_code", &r.office_code)?;
        let at = r.at.as_ref().and_then(from_timestamp);
        let v = self
            .bookings
            .check_in(&by, &r.booking_code, &r.office_code, at)
            .await?;
        Ok(Response::new(self.to_proto(&v)))
    }

    async fn call_next(
        &self,
        req: Request<pb::CallNextRequest>,
    ) -> Result<Response<pb::QueueTicket>, Status> {
        let by = self.staff(&req, Permission::Operate, &req.get_ref().office_code)?;
        let r = req.into_inner();
        required("office_code", &r.office_code)?;
        let t = self
            .bookings
            .call_next(&by, &r.office_code, &r.counter, r.pickup)
            .await?;
        Ok(Response::new(queue::ticket_proto(&t)))
    }

    async fn recall(
        &self,
        req: Request<pb::TicketActionRequest>,
    ) -> Result<Response<pb::QueueTicket>, Status> {
        self.ticket_action(req, TicketAction::Recall).await
    }

    async fn skip(
        &self,
        req: Request<pb::TicketActionRequest>,
    ) -> Result<Response<pb::QueueTicket>, Status> {
        self.ticket_action(req, TicketAction::Skip).await
    }

    async fn mark_served(
        &self,
        req: Request<pb::TicketActionRequest>,
    ) -> Result<Response<pb::QueueTicket>, Status> {
        self.ticket_action(req, TicketAction::Serve).await
    }

    async fn create_walk_in(
        &self,
        req: Request<pb::CreateWalkInRequest>,
    ) -> Result<Response<pb::QueueTicket>, Status> {
        let by = self.staff(&req, Permission::Operate, &req.get_ref().office_code)?;
        let r = req.into_inner();
        required("office_code", &r.office_code)?;
        let t = self.bookings.create_walk_in(&by, &r).await?;
        Ok(Response::new(queue::ticket_proto(&t)))
    }

    async fn set_priority_capacity(
        &self,
        req: Request<pb::SetPriorityCapacityRequest>,
    ) -> Result<Response<pb::PriorityQuota>, Status> {
        let by = self.staff(&req, Permission::Manage, &req.get_ref().office_code)?;
        let r = req.into_inner();
        required("office_code", &r.office_code)?;
        let q = self.bookings.set_priority_capacity(&by, &r).await?;
        Ok(Response::new(pb::PriorityQuota {
            office_code: q.office_code,
            date: format_date(q.date),
            session: q
                .session
                .parse::<SessionOfDay>()
                .map(|s| s.to_proto() as i32)
                .unwrap_or_default(),
            priority_capacity: q.capacity as u32,
            used: q.used as u32,
            cutoff_local: q.cutoff_local,
            rolled_over: q.rolled_over,
        }))
    }

    async fn get_stats(
        &self,
        req: Request<pb::GetStatsRequest>,
    ) -> Result<Response<pb::StatsReport>, Status> {
        let office = req.get_ref().office_code.trim().to_uppercase();
        let what = if office.is_empty() {
            Permission::Administer
        } else {
            Permission::Manage
        };
        self.staff(&req, what, &office)?;
        let r = req.into_inner();
        let mut v = Vec::new();
        let from = parse_date(&r.from);
        let to = parse_date(&r.to);
        if from.is_none() {
            v.push(FieldViolation::new(
                "from",
                "tanggal harus berformat YYYY-MM-DD",
            ));
        }
        if to.is_none() {
            v.push(FieldViolation::new(
                "to",
                "tanggal harus berformat YYYY-MM-DD",
            ));
        }
        if let (Some(f), Some(t)) = (from, to)
            && (t < f || (t - f).num_days() > 366)
        {
            v.push(FieldViolation::new(
                "to",
                "harus sesudah 'from', paling lama 366 hari",
            ));
        }
        if !v.is_empty() {
            return Err(BookingError::Invalid(v).into());
        }
        let report = self
            .bookings
            .stats(
                &office,
                from.ok_or(BookingError::Invalid(Vec::new()))?,
                to.ok_or(BookingError::Invalid(Vec::new()))?,
            )
            .await?;
        Ok(Response::new(report))
    }

    async fn advance_stage(
        &self,
        req: Request<pb::AdvanceStageRequest>,
    ) -> Result<Response<pb::Booking>, Status> {
        let by = self.staff(&req, Permission::Operate, &req.get_ref().office_code)?;
        let r = req.into_inner();
        required("booking_code", &r.booking_code)?;
        let stage = pb::ApplicationStage::try_from(r.stage).unwrap_or_default();
        let v = self
            .bookings
            .advance_stage(&by, &r.office_code, &r.booking_code, r.applicant, stage)
            .await?;
        Ok(Response::new(self.with_pickup(self.to_proto(&v)).await?))
    }

    async fn check_in_pickup(
        &self,
        req: Request<pb::CheckInPickupRequest>,
    ) -> Result<Response<pb::QueueTicket>, Status> {
        let by = self.staff(&req, Permission::Operate, &req.get_ref().office_code)?;
        let r = req.into_inner();
        required("booking_code", &r.booking_code)?;
        let t = self
            .bookings
            .check_in_pickup(&by, &r.office_code, &r.booking_code)
            .await?;
        Ok(Response::new(queue::ticket_proto(&t)))
    }

    async fn set_pickup_hours(
        &self,
        req: Request<pb::SetPickupHoursRequest>,
    ) -> Result<Response<pb::PickupHours>, Status> {
        let by = self.staff(&req, Permission::Manage, &req.get_ref().office_code)?;
        let r = req.into_inner();
        required("office_code", &r.office_code)?;
        let (opens, closes) = self
            .bookings
            .set_pickup_hours(&by, &r.office_code, &r.opens, &r.closes)
            .await?;
        Ok(Response::new(pb::PickupHours {
            office_code: r.office_code.trim().to_uppercase(),
            opens: antrean_platform::domain::format_hhmm(opens),
            closes: antrean_platform::domain::format_hhmm(closes),
        }))
    }

    async fn set_reconfirmation(
        &self,
        req: Request<pb::SetReconfirmationRequest>,
    ) -> Result<Response<pb::ReconfirmationSetting>, Status> {
        let by = self.staff(&req, Permission::Manage, &req.get_ref().office_code)?;
        let r = req.into_inner();
        required("office_code", &r.office_code)?;
        let s = self
            .bookings
            .set_reconfirmation(&by, &r.office_code, r.required, &r.cutoff_local)
            .await?;
        Ok(Response::new(pb::ReconfirmationSetting {
            office_code: s.office_code,
            required: s.reconfirm_required,
            cutoff_local: s.reconfirm_cutoff_local,
        }))
    }

    async fn reconfirm(
        &self,
        req: Request<pb::ReconfirmRequest>,
    ) -> Result<Response<pb::Booking>, Status> {
        let r = req.into_inner();
        required("booking_code", &r.booking_code)?;
        required("contact_phone", &r.contact_phone)?;
        let v = self
            .bookings
            .reconfirm(&r.booking_code, &r.contact_phone)
            .await?;
        Ok(Response::new(self.to_proto(&v)))
    }

    async fn get_queue_board(
        &self,
        req: Request<pb::GetQueueBoardRequest>,
    ) -> Result<Response<pb::QueueBoard>, Status> {
        let r = req.into_inner();
        required("office_code", &r.office_code)?;
        Ok(Response::new(
            self.bookings.queue_board(&r.office_code).await?,
        ))
    }

    async fn join_waitlist(
        &self,
        req: Request<pb::JoinWaitlistRequest>,
    ) -> Result<Response<pb::WaitlistEntry>, Status> {
        let (entry, position) = self.bookings.join_waitlist(req.into_inner()).await?;
        Ok(Response::new(crate::waitlist::entry_proto(
            &entry, position,
        )))
    }
}
