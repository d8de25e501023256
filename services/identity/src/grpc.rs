//! `antrean.v1.IdentityService`: validate, convert, call [`Store`].
use crate::config::PenaltyRule;
use crate::nik::Nik;
use crate::person::{check_birth_date, clean_name};
use crate::staff;
use crate::store::{ApplicantData, PenaltyState, Store};
use crate::verify::{ConfirmError, Verifications};
use antrean_platform::actor::{Permission, Role, Tokens};
use antrean_platform::clock::SharedClock;
use antrean_platform::domain::{format_date, local_date, parse_date, to_timestamp};
use antrean_platform::grpc::AllowList;
use antrean_platform::status::Reason;
use antrean_platform::status::{self, FieldViolation, Problem};
use antrean_proto::v1 as pb;
use antrean_proto::v1::identity_service_server::{IdentityService, IdentityServiceServer};
use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use std::collections::HashSet;
use tonic::{Code, Request, Response, Status};
use uuid::Uuid;

/// Who may call each RPC (mutual TLS; see `antrean_platform::grpc::AllowList`). Only
/// booking and notification read contacts; channels prove contacts; staff sign in through
/// the gateway's console or operators' tools.
pub static ALLOW: AllowList = AllowList {
    service: "antrean.v1.IdentityService",
    methods: &[
        ("ResolveApplicants", &["booking"]),
        ("ResolveContact", &["booking"]),
        ("GetContact", &["booking", "notification"]),
        ("GetApplicant", &["booking"]),
        ("RecordNoShow", &["booking"]),
        ("GetPenalty", &["booking", "operator"]),
        ("StartVerification", CHANNELS),
        ("ConfirmVerification", CHANNELS),
        ("CreateStaff", STAFF),
        ("AuthenticateStaff", STAFF),
        ("ListStaff", STAFF),
        ("SetStaffActive", STAFF),
        // Every service that checks actor tokens.
        (
            "ListDisabledStaff",
            &["quota", "booking", "gateway", "notification"],
        ),
        ("ForgetPeople", &["booking"]),
    ],
};
const CHANNELS: &[&str] = &["gateway", "channel"];
const STAFF: &[&str] = &["gateway", "operator"];

/// Most people one booking may cover (the platform's one number).
pub const MAX_APPLICANTS: usize = antrean_platform::domain::MAX_APPLICANTS as usize;

#[derive(Clone)]
pub struct IdentityGrpc {
    store: Store,
    verifications: Verifications,
    staff: staff::StaffStore,
    tokens: Tokens,
    clock: SharedClock,
    rule: PenaltyRule,
}

fn db(e: sqlx::Error) -> Status {
    match e {
        sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed => {
            status::unavailable("postgres", e)
        }
        e => status::internal("postgres", e),
    }
}

fn parse_id(field: &str, id: &str) -> Result<Uuid, Status> {
    Uuid::parse_str(id).map_err(|_| {
        Problem::invalid(vec![FieldViolation::new(field, "bukan ID yang valid")]).into()
    })
}

fn not_found(what: &str) -> Status {
    Problem::new(
        Code::NotFound,
        Reason::NotFound,
        format!("{what} tidak ditemukan."),
        format!("{what} not found."),
    )
    .into()
}

/// Validates a contact phone (and e-mail): the E.164 phone, or a violation.
pub fn check_contact(
    c: &pb::ContactInput,
    v: &mut Vec<FieldViolation>,
) -> Option<(String, Option<String>)> {
    let phone = match antrean_platform::phone::normalize(&c.phone) {
        Ok(p) => Some(p),
        Err((id, en)) => {
            v.push(FieldViolation::bilingual("contact.phone", id, en));
            None
        }
    };
    let email = c.email.trim();
    let email = if email.is_empty() {
        None
    } else if email.len() <= 254
        && email.split_once('@').is_some_and(|(a, d)| {
            !a.is_empty() && d.contains('.') && !d.starts_with('.') && !d.ends_with('.')
        })
        && !email.contains(char::is_whitespace)
    {
        Some(email.to_ascii_lowercase())
    } else {
        v.push(FieldViolation::bilingual(
            "contact.email",
            "alamat e-mail tidak valid (contoh: nama@contoh.id)",
            "not a valid e-mail address (e.g. name@example.id)",
        ));
        None
    };
    phone.map(|p| (p, email))
}

impl IdentityGrpc {
    pub fn new(
        store: Store,
        verifications: Verifications,
        staff: staff::StaffStore,
        tokens: Tokens,
        clock: SharedClock,
        rule: PenaltyRule,
    ) -> Self {
        Self {
            store,
            verifications,
            staff,
            tokens,
            clock,
            rule,
        }
    }

    pub fn into_server(self) -> IdentityServiceServer<Self> {
        IdentityServiceServer::new(self)
    }

    /// National dates (birth dates, the no-show window) use Jakarta's calendar.
    fn today(&self) -> (DateTime<Utc>, NaiveDate) {
        let now = self.clock.now();
        (now, local_date(Tz::Asia__Jakarta, now))
    }

    fn check_applicants(
        &self,
        list: &[pb::ApplicantInput],
        v: &mut Vec<FieldViolation>,
    ) -> Vec<ApplicantData> {
        let (_, today) = self.today();
        if list.is_empty() || list.len() > MAX_APPLICANTS {
            let (id, en) = antrean_platform::domain::applicants_rule();
            v.push(FieldViolation::bilingual("applicants", id, en));
        }
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        for (i, a) in list.iter().enumerate() {
            let f = |name: &str| format!("applicants[{i}].{name}");
            let name = clean_name(&a.name)
                .map_err(|(id, en)| v.push(FieldViolation::bilingual(f("name"), id, en)));
            let birth = check_birth_date(&a.birth_date, today)
                .map_err(|(id, en)| v.push(FieldViolation::bilingual(f("birth_date"), id, en)));
            if a.application_type == pb::ApplicationType::Unspecified as i32
                || pb::ApplicationType::try_from(a.application_type).is_err()
            {
                // The classic WhatsApp format carries no type: it defaults to a new passport
                // upstream; an explicit invalid value is refused.
                if a.application_type != 0 {
                    v.push(FieldViolation::bilingual(
                        f("application_type"),
                        "jenis permohonan tidak dikenal",
                        "unknown application type",
                    ));
                }
            }
            if pb::PassportType::try_from(a.passport_type).is_err() {
                v.push(FieldViolation::bilingual(
                    f("passport_type"),
                    "jenis paspor tidak dikenal (ELECTRONIC atau NON_ELECTRONIC)",
                    "unknown passport type",
                ));
            }
            let (Ok(name), Ok(birth)) = (name, birth) else {
                continue;
            };
            let nik = if a.nik.trim().is_empty() {
                None
            } else {
                match Nik::parse(&a.nik, birth) {
                    Ok(n) => Some(n),
                    Err(e) => {
                        v.push(FieldViolation::bilingual(
                            f("nik"),
                            e.message(),
                            e.message_en(),
                        ));
                        continue;
                    }
                }
            };
            let data = ApplicantData {
                nik,
                name,
                birth_date: birth,
            };
            if !seen.insert(self.store.person_key(&data)) {
                v.push(FieldViolation::bilingual(
                    format!("applicants[{i}]"),
                    "orang yang sama tercantum lebih dari sekali",
                    "the same person is listed more than once",
                ));
            }
            out.push(data);
        }
        out
    }

    fn penalty_proto(p: PenaltyState) -> pb::Penalty {
        pb::Penalty {
            recent_no_shows: p.recent_no_shows,
            blocked_until: p.blocked_until.map(to_timestamp),
        }
    }
}

#[tonic::async_trait]
impl IdentityService for IdentityGrpc {
    async fn resolve_applicants(
        &self,
        req: Request<pb::ResolveApplicantsRequest>,
    ) -> Result<Response<pb::ResolveApplicantsResponse>, Status> {
        let r = req.into_inner();
        let mut v = Vec::new();
        let contact_in = r.contact.unwrap_or_default();
        let token = contact_in.contact_token.trim();
        // A contact token stands for the phone it proved; without one, the phone given.
        let proven = if token.is_empty() {
            None
        } else {
            Some(
                self.verifications
                    .contact_of_token(token, self.clock.now())
                    .await
                    .map_err(|e| status::internal("contact token", e))?
                    .ok_or_else(status::contact_not_verified)?,
            )
        };
        let contact = match &proven {
            Some(_) => None,
            None => check_contact(&contact_in, &mut v),
        };
        let applicants = self.check_applicants(&r.applicants, &mut v);
        if !v.is_empty() {
            return Err(Problem::invalid(v).into());
        }
        let wa = Some(contact_in.whatsapp_user_id.trim()).filter(|s| !s.is_empty());
        let (contact_id, phone) = match proven.as_ref() {
            Some(p) => (p.contact_id, p.phone.clone()),
            None => {
                let Some((phone, email)) = contact else {
                    return Err(Problem::invalid(Vec::new()).into());
                };
                let id = self
                    .store
                    .upsert_contact(&phone, email.as_deref(), wa)
                    .await
                    .map_err(db)?;
                (id, phone)
            }
        };
        let now = self.clock.now();
        let mut out = Vec::new();
        for (a, input) in applicants.iter().zip(&r.applicants) {
            let (stored, blocked_until) = self
                .store
                .upsert_applicant(a, &phone, now)
                .await
                .map_err(db)?;
            out.push(pb::ResolvedApplicant {
                applicant_id: stored.id.to_string(),
                person_key: stored.person_key,
                name: stored.name,
                birth_date: format_date(stored.birth_date),
                application_type: input.application_type,
                passport_type: antrean_platform::requirements::passport_type(input.passport_type)
                    as i32,
                blocked_until: blocked_until.map(to_timestamp),
            });
        }
        Ok(Response::new(pb::ResolveApplicantsResponse {
            contact: Some(pb::Contact {
                contact_id: contact_id.to_string(),
                // The booking service keeps a proven contact for later messages (waitlist
                // offers, draw outcomes).
                phone: if proven.is_some() {
                    phone.clone()
                } else {
                    String::new()
                },
                email: proven
                    .as_ref()
                    .and_then(|p| p.email.clone())
                    .unwrap_or_default(),
                whatsapp_user_id: wa.unwrap_or_default().to_owned(),
                phone_masked: antrean_platform::phone::mask(&phone),
            }),
            applicants: out,
            contact_verified: proven.is_some(),
        }))
    }

    async fn resolve_contact(
        &self,
        req: Request<pb::ResolveContactRequest>,
    ) -> Result<Response<pb::Contact>, Status> {
        let r = req.into_inner();
        let token = r.contact_token.trim();
        if !token.is_empty() {
            let proven = self
                .verifications
                .contact_of_token(token, self.clock.now())
                .await
                .map_err(|e| status::internal("contact token", e))?
                .ok_or_else(status::contact_not_verified)?;
            return Ok(Response::new(pb::Contact {
                contact_id: proven.contact_id.to_string(),
                ..Default::default()
            }));
        }
        let phone = antrean_platform::phone::normalize(&r.phone).map_err(|(id, en)| {
            Status::from(Problem::invalid(vec![FieldViolation::bilingual(
                "phone", id, en,
            )]))
        })?;
        let id = if r.create {
            Some(
                self.store
                    .upsert_contact(&phone, None, None)
                    .await
                    .map_err(db)?,
            )
        } else {
            self.store.find_contact(&phone).await.map_err(db)?
        };
        let id = id.ok_or_else(|| not_found("Kontak"))?;
        Ok(Response::new(pb::Contact {
            contact_id: id.to_string(),
            phone: String::new(),
            email: String::new(),
            whatsapp_user_id: String::new(),
            phone_masked: antrean_platform::phone::mask(&phone),
        }))
    }

    async fn get_contact(
        &self,
        req: Request<pb::GetContactRequest>,
    ) -> Result<Response<pb::Contact>, Status> {
        let id = parse_id("contact_id", &req.get_ref().contact_id)?;
        let c = self
            .store
            .get_contact(id)
            .await
            .map_err(|e| status::internal("contact", e))?
            .ok_or_else(|| not_found("Kontak"))?;
        Ok(Response::new(pb::Contact {
            contact_id: c.id.to_string(),
            phone: c.phone.unwrap_or_default(),
            email: c.email.unwrap_or_default(),
            whatsapp_user_id: c.whatsapp_user_id.unwrap_or_default(),
            phone_masked: c.phone_masked,
        }))
    }

    async fn get_applicant(
        &self,
        req: Request<pb::GetApplicantRequest>,
    ) -> Result<Response<pb::Applicant>, Status> {
        let id = parse_id("applicant_id", &req.get_ref().applicant_id)?;
        let a = self
            .store
            .get_applicant(id)
            .await
            .map_err(db)?
            .ok_or_else(|| not_found("Pemohon"))?;
        Ok(Response::new(pb::Applicant {
            applicant_id: a.id.to_string(),
            name: a.name,
            birth_date: format_date(a.birth_date),
            nik_masked: a.nik_masked.unwrap_or_default(),
            person_key: a.person_key,
        }))
    }

    async fn record_no_show(
        &self,
        req: Request<pb::RecordNoShowRequest>,
    ) -> Result<Response<pb::Penalty>, Status> {
        let r = req.into_inner();
        let id = parse_id("applicant_id", &r.applicant_id)?;
        let date = parse_date(&r.date).ok_or_else(|| {
            Status::from(Problem::invalid(vec![FieldViolation::new(
                "date",
                "tanggal harus berformat YYYY-MM-DD",
            )]))
        })?;
        if r.booking_id.is_empty() {
            return Err(
                Problem::invalid(vec![FieldViolation::new("booking_id", "wajib diisi")]).into(),
            );
        }
        let a = self
            .store
            .get_applicant(id)
            .await
            .map_err(db)?
            .ok_or_else(|| not_found("Pemohon"))?;
        let (now, today) = self.today();
        let p = self
            .store
            .record_no_show(&a.person_key, &r.booking_id, date, now, today, self.rule)
            .await
            .map_err(db)?;
        Ok(Response::new(Self::penalty_proto(p)))
    }

    async fn get_penalty(
        &self,
        req: Request<pb::GetPenaltyRequest>,
    ) -> Result<Response<pb::Penalty>, Status> {
        let id = parse_id("applicant_id", &req.get_ref().applicant_id)?;
        let a = self
            .store
            .get_applicant(id)
            .await
            .map_err(db)?
            .ok_or_else(|| not_found("Pemohon"))?;
        let (now, today) = self.today();
        let p = self
            .store
            .penalty(&a.person_key, now, today, self.rule)
            .await
            .map_err(db)?;
        Ok(Response::new(Self::penalty_proto(p)))
    }

    async fn start_verification(
        &self,
        req: Request<pb::StartVerificationRequest>,
    ) -> Result<Response<pb::Verification>, Status> {
        let r = req.into_inner();
        let mut v = Vec::new();
        let input = pb::ContactInput {
            phone: r.phone,
            email: r.email,
            ..Default::default()
        };
        let Some((phone, email)) = check_contact(&input, &mut v).filter(|_| v.is_empty()) else {
            // The fields are the request's own, not a booking's contact.
            for f in &mut v {
                f.field = f.field.trim_start_matches("contact.").to_owned();
            }
            return Err(Problem::invalid(v).into());
        };
        let contact_id = self
            .store
            .upsert_contact(&phone, None, None)
            .await
            .map_err(db)?;
        let started = self
            .verifications
            .start(contact_id, email.as_deref(), self.clock.now())
            .await
            .map_err(db)?;
        Ok(Response::new(pb::Verification {
            verification_id: started.id.to_string(),
            code: started.code,
            expires_at: Some(to_timestamp(started.expires_at)),
            phone,
            email: email.unwrap_or_default(),
            code_minutes: crate::verify::CODE_MINUTES as u32,
        }))
    }

    async fn confirm_verification(
        &self,
        req: Request<pb::ConfirmVerificationRequest>,
    ) -> Result<Response<pb::ContactProof>, Status> {
        let r = req.into_inner();
        let code: String = r.code.chars().filter(|c| !c.is_whitespace()).collect();
        if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Problem::invalid(vec![FieldViolation::bilingual(
                "code",
                "kode verifikasi terdiri dari 6 angka",
                "the verification code has 6 digits",
            )])
            .into());
        }
        // An id that is not one is unknown, like an id never issued.
        let Ok(id) = Uuid::parse_str(r.verification_id.trim()) else {
            return Err(not_found("Verifikasi"));
        };
        let proof = self
            .verifications
            .confirm(id, &code, self.clock.now())
            .await
            .map_err(|e| status::internal("verification", e))?;
        match proof {
            Ok(p) => Ok(Response::new(pb::ContactProof {
                contact_token: p.token,
                expires_at: Some(to_timestamp(p.expires_at)),
                contact_id: p.contact_id.to_string(),
                phone_masked: p.phone_masked,
            })),
            Err(ConfirmError::NotFound) => Err(not_found("Verifikasi")),
            Err(ConfirmError::Expired) => Err(Problem::new(
                Code::FailedPrecondition,
                Reason::Expired,
                "Kode verifikasi sudah kedaluwarsa. Minta kode baru.",
                "The verification code expired. Request a new one.",
            )
            .into()),
            Err(ConfirmError::Ended) => Err(Problem::new(
                Code::FailedPrecondition,
                Reason::VerificationEnded,
                "Kode salah 5 kali; verifikasi ini dihentikan. Minta kode baru.",
                "Five wrong codes ended this verification. Request a new code.",
            )
            .into()),
            Err(ConfirmError::WrongCode { attempts_left }) => {
                let mut p = Problem::new(
                    Code::InvalidArgument,
                    Reason::WrongCode,
                    format!("Kode verifikasi salah. Sisa percobaan: {attempts_left}."),
                    format!("Wrong verification code. Attempts left: {attempts_left}."),
                )
                .with("attempts_left", attempts_left);
                p.violations = vec![FieldViolation::bilingual(
                    "code",
                    "kode verifikasi salah",
                    "wrong verification code",
                )];
                Err(p.into())
            }
        }
    }

    async fn create_staff(
        &self,
        req: Request<pb::CreateStaffRequest>,
    ) -> Result<Response<pb::Staff>, Status> {
        let now = self.clock.now();
        let actor = self.tokens.actor(&req, now.timestamp())?;
        let r = req.into_inner();
        let role = role_from_proto(r.role).ok_or_else(|| {
            Status::from(Problem::invalid(vec![FieldViolation::bilingual(
                "role",
                "pilih OFFICE_STAFF, OFFICE_HEAD atau DIRECTORATE_ADMIN",
                "choose OFFICE_STAFF, OFFICE_HEAD or DIRECTORATE_ADMIN",
            )]))
        })?;
        let new = staff::check(staff::NewStaff {
            username: r.username,
            display_name: r.display_name,
            password: r.password,
            role,
            office_code: r.office_code,
        })
        .map_err(|v| Status::from(Problem::invalid(v)))?;
        // Heads add office staff to their own office; everything else is the directorate's.
        if !(role == Role::OfficeStaff && actor.may(Permission::Manage, &new.office_code)) {
            actor.require(Permission::Administer, &new.office_code)?;
        }
        let row = self
            .staff
            .create(new, Some(&actor), now)
            .await
            .map_err(|e| match e {
                staff::CreateError::UsernameTaken => Status::from(
                    Problem::new(
                        Code::AlreadyExists,
                        Reason::UsernameTaken,
                        "Nama pengguna sudah dipakai.",
                        "That username is taken.",
                    )
                    .with("field", "username"),
                ),
                staff::CreateError::Db(e) => db(e),
            })?;
        Ok(Response::new(staff_proto(&row)))
    }

    async fn authenticate_staff(
        &self,
        req: Request<pb::AuthenticateStaffRequest>,
    ) -> Result<Response<pb::Staff>, Status> {
        let now = self.clock.now();
        let r = req.into_inner();
        let row = self
            .staff
            .authenticate(&r.username, &r.password, now)
            .await
            .map_err(|e| match e {
                staff::LoginError::Wrong => Status::from(Problem::new(
                    Code::Unauthenticated,
                    Reason::WrongCredentials,
                    "Nama pengguna atau kata sandi salah.",
                    "Wrong username or password.",
                )),
                staff::LoginError::Locked(until) => Status::from(
                    Problem::new(
                        Code::PermissionDenied,
                        Reason::AccountLocked,
                        format!(
                            "Terlalu banyak percobaan gagal. Akun dikunci {} menit.",
                            staff::LOCK_MINUTES
                        ),
                        format!(
                            "Too many failed attempts. The account is locked for {} minutes.",
                            staff::LOCK_MINUTES
                        ),
                    )
                    .with("locked_until", until.to_rfc3339()),
                ),
                staff::LoginError::Busy => Status::from(Problem::new(
                    Code::ResourceExhausted,
                    Reason::TooManySignins,
                    "Terlalu banyak percobaan masuk saat ini. Silakan coba lagi sebentar lagi.",
                    "Too many sign-ins at the moment. Please try again shortly.",
                )),
                staff::LoginError::Db(e) => db(e),
            })?;
        let expires = now + chrono::Duration::hours(antrean_platform::actor::TOKEN_HOURS);
        let mut out = staff_proto(&row);
        out.access_token = self.tokens.sign(&row.actor(expires.timestamp()));
        out.access_expires_at = Some(to_timestamp(expires));
        Ok(Response::new(out))
    }

    async fn set_staff_active(
        &self,
        req: Request<pb::SetStaffActiveRequest>,
    ) -> Result<Response<pb::Staff>, Status> {
        let now = self.clock.now();
        let actor = self.tokens.actor(&req, now.timestamp())?;
        let r = req.into_inner();
        let not_found = || {
            Status::from(Problem::new(
                Code::NotFound,
                Reason::NotFound,
                "Akun petugas tidak ditemukan.",
                "No such staff account.",
            ))
        };
        let target = self
            .staff
            .get(&r.username)
            .await
            .map_err(db)?
            .ok_or_else(not_found)?;
        // Heads manage their own office's staff; everything else is the directorate's.
        if !(target.role() == Role::OfficeStaff
            && actor.may(Permission::Manage, &target.office_code))
        {
            actor.require(Permission::Administer, &target.office_code)?;
        }
        if target.id.to_string() == actor.staff_id && !r.active {
            return Err(Problem::new(
                Code::FailedPrecondition,
                Reason::OwnAccount,
                "Anda tidak dapat menonaktifkan akun Anda sendiri.",
                "You cannot disable your own account.",
            )
            .into());
        }
        let row = self
            .staff
            .set_active(&r.username, r.active, &actor, now)
            .await
            .map_err(db)?
            .ok_or_else(not_found)?;
        // This replica refuses the account's tokens at once; the others within a refresh.
        self.tokens
            .set_disabled(self.staff.disabled_ids().await.map_err(db)?);
        Ok(Response::new(staff_proto(&row)))
    }

    async fn forget_people(
        &self,
        req: Request<pb::ForgetPeopleRequest>,
    ) -> Result<Response<pb::ForgetPeopleResponse>, Status> {
        let r = req.into_inner();
        let ids = |v: &[String], field: &str| -> Result<Vec<uuid::Uuid>, Status> {
            v.iter()
                .map(|s| {
                    uuid::Uuid::parse_str(s).map_err(|_| {
                        Status::from(Problem::invalid(vec![FieldViolation::bilingual(
                            field,
                            "bukan ID yang valid",
                            "not a valid id",
                        )]))
                    })
                })
                .collect()
        };
        let applicants = ids(&r.applicant_ids, "applicant_ids")?;
        let contacts = ids(&r.contact_ids, "contact_ids")?;
        let (a, c) = self
            .store
            .forget(&applicants, &contacts)
            .await
            .map_err(db)?;
        Ok(Response::new(pb::ForgetPeopleResponse {
            applicants: a,
            contacts: c,
        }))
    }

    async fn list_disabled_staff(
        &self,
        _req: Request<pb::ListDisabledStaffRequest>,
    ) -> Result<Response<pb::ListDisabledStaffResponse>, Status> {
        Ok(Response::new(pb::ListDisabledStaffResponse {
            staff_ids: self.staff.disabled_ids().await.map_err(db)?,
        }))
    }

    async fn list_staff(
        &self,
        req: Request<pb::ListStaffRequest>,
    ) -> Result<Response<pb::ListStaffResponse>, Status> {
        let actor = self.tokens.actor(&req, self.clock.now().timestamp())?;
        let office = req.into_inner().office_code.trim().to_uppercase();
        if office.is_empty() {
            actor.require(Permission::Administer, "")?;
        } else {
            actor.require(Permission::Manage, &office)?;
        }
        let rows = self.staff.list(&office).await.map_err(db)?;
        Ok(Response::new(pb::ListStaffResponse {
            staff: rows.iter().map(staff_proto).collect(),
        }))
    }
}

fn role_from_proto(role: i32) -> Option<Role> {
    match pb::StaffRole::try_from(role).ok()? {
        pb::StaffRole::OfficeStaff => Some(Role::OfficeStaff),
        pb::StaffRole::OfficeHead => Some(Role::OfficeHead),
        pb::StaffRole::DirectorateAdmin => Some(Role::DirectorateAdmin),
        pb::StaffRole::Unspecified => None,
    }
}

fn staff_proto(r: &staff::StaffRow) -> pb::Staff {
    pb::Staff {
        staff_id: r.id.to_string(),
        username: r.username.clone(),
        display_name: r.display_name.clone(),
        role: match r.role() {
            Role::OfficeStaff => pb::StaffRole::OfficeStaff,
            Role::OfficeHead => pb::StaffRole::OfficeHead,
            Role::DirectorateAdmin => pb::StaffRole::DirectorateAdmin,
        } as i32,
        office_code: r.office_code.clone(),
        access_token: String::new(),
        access_expires_at: None,
        active: r.active,
    }
}
