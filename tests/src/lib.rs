//! Starts identity, quota and booking in this process, each on port 0, sharing one fresh
//! database, a Redis key prefix and one manual clock, talking to each other over real gRPC.
pub mod cluster;
pub mod devca;

use antrean_booking::{BookingConfig, Bookings, grpc::BookingGrpc};
use antrean_identity::IdentityConfig;
use antrean_platform::clock::{Clock, ManualClock};
use antrean_platform::grpc::{ServeOptions, serve};
use antrean_platform::testing;
use antrean_proto::v1 as pb;
use antrean_proto::v1::booking_service_client::BookingServiceClient;
use antrean_proto::v1::quota_service_client::QuotaServiceClient;
use antrean_quota::{QuotaConfig, grpc::QuotaGrpc};
use chrono::{DateTime, Utc};
use std::sync::Arc;
use tonic::transport::Channel;

pub struct System {
    pub booking: BookingServiceClient<Channel>,
    pub quota: QuotaServiceClient<Channel>,
    pub bookings: Arc<Bookings>,
    pub quota_service: Arc<antrean_quota::Quota>,
    pub clock: Arc<ManualClock>,
    pub database_url: String,
    /// `http://127.0.0.1:<port>` of the booking service.
    pub booking_url: String,
    pub identity_url: String,
    pub quota_url: String,
    pub notification_url: String,
    /// The WhatsApp Cloud API stand-in the notification service delivers to.
    pub cloud_api: antrean_gateway::sandbox::Sandbox,
    pub cloud_api_url: String,
    /// The SMTP relay stand-in the notification service sends e-mail to.
    pub mail: testing::SmtpSink,
}

/// Monday 30 November 2026, 10:00 WIB.
pub fn monday_morning() -> DateTime<Utc> {
    "2026-11-30T03:00:00Z".parse().unwrap()
}

async fn spawn<S>(svc: S) -> String
where
    S: tonic::codegen::Service<http::Request<tonic::body::Body>, Error = std::convert::Infallible>
        + tonic::server::NamedService
        + Clone
        + Send
        + Sync
        + 'static,
    S::Response: axum::response::IntoResponse,
    S::Future: Send + 'static,
{
    let (listener, addr) = testing::listener().await;
    tokio::spawn(serve(
        listener,
        svc,
        ServeOptions::default(),
        std::future::pending(),
    ));
    format!("http://{addr}")
}

pub async fn start() -> System {
    antrean_platform::telemetry::init_for_tests();
    let db = testing::fresh_database_url();
    let clock = ManualClock::new(monday_morning());

    let identity = antrean_identity::build(&IdentityConfig::for_tests(db.clone()), clock.clone())
        .await
        .unwrap();
    let identity_url = spawn(identity.into_server()).await;

    let qc = QuotaConfig::for_tests(db.clone(), testing::redis_url(), testing::redis_prefix());
    let quota = Arc::new(antrean_quota::build(&qc, clock.clone()).await.unwrap());
    let quota_url =
        spawn(QuotaGrpc::new(quota.clone(), antrean_platform::actor::Tokens::dev()).into_server())
            .await;

    let (l, api_addr) = testing::listener().await;
    let cloud_api = antrean_gateway::sandbox::spawn(l);
    let mut nc = antrean_notification::NotificationConfig::for_tests(
        db.clone(),
        format!("http://{api_addr}"),
    );
    // The mail relay: an SMTP sink on loopback.
    let mail = testing::SmtpSink::start(0).await;
    nc.smtp_url = mail.url();
    let n = antrean_notification::build(&nc, clock.clone())
        .await
        .unwrap();
    n.worker.clone().spawn();
    let notification_url =
        spawn(antrean_notification::grpc::NotificationGrpc::new(n.outbox.clone()).into_server())
            .await;

    let mut bc = BookingConfig::for_tests(db.clone(), identity_url.clone(), quota_url.clone());
    bc.notification_url = notification_url.clone();
    // The randomness beacon of release draws: the stand-in beside the Cloud API's.
    bc.draw_beacon_url = format!("http://{api_addr}/beacon");
    let bookings = Arc::new(antrean_booking::build(&bc, clock.clone()).await.unwrap());
    let booking_url = spawn(BookingGrpc::new(bookings.clone()).into_server()).await;

    System {
        booking: BookingServiceClient::connect(booking_url.clone())
            .await
            .unwrap(),
        booking_url,
        identity_url,
        quota: QuotaServiceClient::connect(quota_url.clone())
            .await
            .unwrap(),
        quota_url,
        notification_url,
        cloud_api,
        cloud_api_url: format!("http://{api_addr}"),
        mail,
        bookings,
        quota_service: quota,
        clock,
        database_url: db,
    }
}

pub fn applicant(nik: &str, name: &str, birth: &str) -> pb::ApplicantInput {
    pb::ApplicantInput {
        nik: nik.into(),
        name: name.into(),
        birth_date: birth.into(),
        application_type: pb::ApplicationType::New as i32,
        passport_type: pb::PassportType::NonElectronic as i32,
    }
}

/// A valid NIK for a man born on `birth` (YYYY-MM-DD), with serial `n`.
pub fn nik(birth: &str, n: u32) -> String {
    let (y, m, d) = (&birth[2..4], &birth[5..7], &birth[8..10]);
    format!("320101{d}{m}{y}{n:04}")
}

pub fn create(
    key: &str,
    office: &str,
    date: &str,
    session: pb::Session,
    phone: &str,
    applicants: Vec<pb::ApplicantInput>,
) -> pb::CreateBookingRequest {
    // WhatsApp: its sender is proven by the webhook's signature, so the booking is held and
    // confirmed with the code (web and app bookings need a contact token instead).
    pb::CreateBookingRequest {
        idempotency_key: key.into(),
        received_at: None,
        channel: pb::Channel::Whatsapp as i32,
        office_code: office.into(),
        date: date.into(),
        session: session as i32,
        contact: Some(pb::ContactInput {
            phone: phone.into(),
            ..Default::default()
        }),
        applicants,
    }
}

impl System {
    pub async fn remaining(&self, office: &str, date: &str, session: pb::Session) -> u32 {
        let d = self
            .quota
            .clone()
            .get_availability(pb::GetAvailabilityRequest {
                office_code: office.into(),
                from: date.into(),
                to: date.into(),
            })
            .await
            .unwrap()
            .into_inner()
            .days
            .remove(0);
        d.sessions
            .iter()
            .find(|s| s.session == session as i32)
            .unwrap()
            .remaining
    }

    /// Proves `phone` as a web or app user does (the code comes back in the RPC's answer
    /// here, where a real client reads it from WhatsApp): answers a contact token.
    pub async fn contact_token(&self, phone: &str) -> String {
        self.contact_token_with_email(phone, "").await
    }

    /// A contact token proving `phone` and, when not empty, `email`.
    pub async fn contact_token_with_email(&self, phone: &str, email: &str) -> String {
        let mut identity =
            antrean_proto::v1::identity_service_client::IdentityServiceClient::connect(
                self.identity_url.clone(),
            )
            .await
            .unwrap();
        let v = identity
            .start_verification(pb::StartVerificationRequest {
                phone: phone.into(),
                email: email.into(),
            })
            .await
            .unwrap()
            .into_inner();
        identity
            .confirm_verification(pb::ConfirmVerificationRequest {
                verification_id: v.verification_id,
                code: v.code,
            })
            .await
            .unwrap()
            .into_inner()
            .contact_token
    }

    /// Creates and confirms; answers the confirmed booking.
    pub async fn book(&self, req: pb::CreateBookingRequest) -> pb::Booking {
        let mut c = self.booking.clone();
        let created = c.create_booking(req).await.unwrap().into_inner();
        let booking = created.booking.clone().unwrap();
        if booking.status == pb::BookingStatus::Confirmed as i32 {
            // A proven contact's booking is confirmed at once.
            return booking;
        }
        c.confirm_booking(pb::ConfirmBookingRequest {
            booking_id: created.booking.unwrap().booking_id,
            confirmation_code: created.confirmation_code,
        })
        .await
        .unwrap()
        .into_inner()
    }

    pub async fn pool(&self) -> sqlx::PgPool {
        sqlx::PgPool::connect(&self.database_url).await.unwrap()
    }
}

/// The whole system with the WhatsApp channel: notification (with its workers) delivering to
/// a Cloud API stand-in on loopback, and the gateway receiving signed webhooks.
pub struct WhatsApp {
    pub system: System,
    pub cloud_api: antrean_gateway::sandbox::Sandbox,
    pub gateway: String,
    pub http: reqwest::Client,
    pub app: Arc<antrean_gateway::App>,
    seq: std::sync::atomic::AtomicU64,
}

pub async fn start_with_whatsapp() -> WhatsApp {
    start_with_whatsapp_using(|_| {}).await
}

/// The system with a gateway whose settings `configure` changes first.
pub async fn start_with_whatsapp_using(
    configure: impl FnOnce(&mut antrean_gateway::GatewayConfig),
) -> WhatsApp {
    let system = start().await;
    let cloud_api = system.cloud_api.clone();
    let mut gc = antrean_gateway::GatewayConfig::for_tests(
        system.database_url.clone(),
        system.identity_url.clone(),
        system.quota_url.clone(),
        system.booking_url.clone(),
        system.notification_url.clone(),
    );
    configure(&mut gc);
    let (app, gateway) = serve_gateway(gc, &system).await;
    WhatsApp {
        system,
        cloud_api,
        gateway,
        http: reqwest::Client::new(),
        app,
        seq: std::sync::atomic::AtomicU64::new(0),
    }
}

/// Starts a gateway replica with `config` over `system`'s services; answers it and its URL.
pub async fn serve_gateway(
    config: antrean_gateway::GatewayConfig,
    system: &System,
) -> (Arc<antrean_gateway::App>, String) {
    let app = antrean_gateway::build(config, system.clock.clone())
        .await
        .unwrap();
    let (listener, addr) = testing::listener().await;
    tokio::spawn(antrean_gateway::serve(
        app.clone(),
        listener,
        std::future::pending(),
    ));
    (app, format!("http://{addr}"))
}

/// The sandbox phone_number_id of an office (see the quota seed).
pub const BOGOR_NUMBER: &str = "100004200000000";
pub const MAKASSAR_NUMBER: &str = "100004200000026";
pub const NATIONAL_NUMBER: &str = "100004299999999";

impl WhatsApp {
    /// Posts a webhook body signed with the app secret; answers the HTTP status.
    pub async fn post(&self, body: &serde_json::Value) -> u16 {
        // What Meta relays, it has seen: the sender's 24-hour window opens.
        self.cloud_api.observe_webhook(body);
        let raw = serde_json::to_vec(body).unwrap();
        let sig =
            antrean_gateway::signature::sign(antrean_gateway::DEV_APP_SECRET.as_bytes(), &raw);
        self.http
            .post(format!("{}/webhooks/whatsapp", self.gateway))
            .header("content-type", "application/json")
            .header("x-hub-signature-256", sig)
            .body(raw)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    /// A new message id.
    pub fn wamid(&self) -> String {
        let n = self.seq.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        format!("wamid.TEST{n:08}")
    }

    /// Sends `text` from `phone` (digits, e.g. 6281234567890) to `number` and answers the
    /// text of the one reply it gets.
    pub async fn say(&self, number: &str, phone: &str, text: &str) -> String {
        let before = self.replies_to(phone).len();
        let body = antrean_gateway::webhook::text_webhook(
            number,
            "+62 811-0000-000",
            phone,
            &self.wamid(),
            text,
            self.system.clock.now().timestamp(),
        );
        assert_eq!(self.post(&body).await, 200);
        self.next_reply(phone, before).await
    }

    /// Verifies `phone` through the JSON API as a web user does: asks for a code, reads it
    /// from the authentication template the Cloud API stand-in received, and answers the
    /// contact token.
    pub async fn contact_token(&self, phone: &str) -> String {
        let digits = antrean_platform::phone::normalize(phone)
            .unwrap()
            .trim_start_matches('+')
            .to_owned();
        let before = self.cloud_api.messages_to(&digits).len();
        let r = self
            .http
            .post(format!("{}/api/v1/verifications", self.gateway))
            .json(&serde_json::json!({ "phone": phone }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 202);
        let v: serde_json::Value = r.json().await.unwrap();
        let code = self.verification_code(&digits, before).await;
        let r = self
            .http
            .post(format!(
                "{}/api/v1/verifications/{}/confirm",
                self.gateway,
                v["verification_id"].as_str().unwrap()
            ))
            .json(&serde_json::json!({ "code": code }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        let proof: serde_json::Value = r.json().await.unwrap();
        proof["contact_token"].as_str().unwrap().to_owned()
    }

    /// The code of verification message number `before + 1` to `digits`.
    pub async fn verification_code(&self, digits: &str, before: usize) -> String {
        let m = self
            .cloud_api
            .wait_for_recipient(digits, before + 1, std::time::Duration::from_secs(8))
            .await;
        let body = &m.get(before).expect("a verification code").body;
        assert_eq!(
            body["template"]["name"], "antrean_kode_verifikasi",
            "{body}"
        );
        body["template"]["components"][0]["parameters"][0]["text"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    pub fn replies_to(&self, phone: &str) -> Vec<serde_json::Value> {
        self.cloud_api
            .messages_to(phone)
            .into_iter()
            .map(|m| m.body)
            .collect()
    }

    /// Waits for reply number `before + 1` to `phone` and answers its text.
    pub async fn next_reply(&self, phone: &str, before: usize) -> String {
        let r = self
            .cloud_api
            .wait_for_recipient(phone, before + 1, std::time::Duration::from_secs(8))
            .await;
        match r.get(before) {
            Some(m) => reply_text(&m.body),
            None => panic!("no reply to {phone}"),
        }
    }
}

/// The readable text of a Cloud API message body (text, a template's name and parameters, or
/// list body plus row titles).
pub fn reply_text(body: &serde_json::Value) -> String {
    if let Some(t) = body["text"]["body"].as_str() {
        return t.to_owned();
    }
    // An approved template: its name, then its body parameters, a line each.
    if let Some(name) = body["template"]["name"].as_str() {
        let mut out = format!("[{name}]");
        for p in body["template"]["components"][0]["parameters"]
            .as_array()
            .into_iter()
            .flatten()
        {
            out.push('\n');
            out.push_str(p["text"].as_str().unwrap_or_default());
        }
        return out;
    }
    let i = &body["interactive"];
    let mut out = i["body"]["text"].as_str().unwrap_or_default().to_owned();
    for s in i["action"]["sections"].as_array().into_iter().flatten() {
        for r in s["rows"].as_array().into_iter().flatten() {
            out.push_str(&format!(
                "\n[{}] {}",
                r["id"].as_str().unwrap_or(""),
                r["title"].as_str().unwrap_or("")
            ));
        }
    }
    out
}

/// Checks `value` against a JSON Schema of the OpenAPI document (the subset it uses: `$ref`,
/// `oneOf`/`anyOf`/`allOf`, `type` (also as a list), `required`, `properties`, `items`,
/// `enum`, `minItems`, `maxItems`). Answers the first mismatch with its path.
pub fn conforms(
    doc: &serde_json::Value,
    schema: &serde_json::Value,
    value: &serde_json::Value,
    path: &str,
) -> Result<(), String> {
    use serde_json::Value;
    if let Some(r) = schema["$ref"].as_str() {
        let mut target = doc;
        for part in r.trim_start_matches("#/").split('/') {
            target = &target[part];
        }
        return conforms(doc, target, value, path);
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(alternatives) = schema[key].as_array() {
            let fits = alternatives
                .iter()
                .filter(|s| conforms(doc, s, value, path).is_ok())
                .count();
            if fits == 0 || (key == "oneOf" && fits > 1) {
                return Err(format!(
                    "{path}: {fits} of the {key} alternatives fit {value}"
                ));
            }
        }
    }
    for s in schema["allOf"].as_array().into_iter().flatten() {
        conforms(doc, s, value, path)?;
    }
    let type_ok = |t: &str| match t {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "integer" => value.is_u64() || value.is_i64(),
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        "null" => value.is_null(),
        _ => true,
    };
    match &schema["type"] {
        Value::String(t) if !type_ok(t) => return Err(format!("{path}: not {t}: {value}")),
        Value::Array(ts) if !ts.iter().any(|t| type_ok(t.as_str().unwrap_or(""))) => {
            return Err(format!("{path}: not any of {ts:?}: {value}"));
        }
        _ => {}
    }
    if let Some(e) = schema["enum"].as_array()
        && !e.contains(value)
    {
        return Err(format!("{path}: {value} not in {e:?}"));
    }
    if let Some(obj) = value.as_object() {
        for r in schema["required"].as_array().into_iter().flatten() {
            let k = r.as_str().unwrap_or_default();
            if !obj.contains_key(k) {
                return Err(format!("{path}: missing {k}"));
            }
        }
        if let Some(props) = schema["properties"].as_object() {
            for (k, s) in props {
                if let Some(v) = obj.get(k) {
                    conforms(doc, s, v, &format!("{path}.{k}"))?;
                }
            }
        }
    }
    if let Some(items) = value.as_array() {
        if let Some(min) = schema["minItems"].as_u64()
            && (items.len() as u64) < min
        {
            return Err(format!("{path}: fewer than {min} items"));
        }
        if let Some(max) = schema["maxItems"].as_u64()
            && (items.len() as u64) > max
        {
            return Err(format!("{path}: more than {max} items"));
        }
        for (i, v) in items.iter().enumerate() {
            conforms(doc, &schema["items"], v, &format!("{path}[{i}]"))?;
        }
    }
    Ok(())
}

impl WhatsApp {
    /// Checks an API response against the OpenAPI document's response schema of
    /// `path` / `method` / `status`.
    pub fn check_response(&self, path: &str, method: &str, status: u16, body: &serde_json::Value) {
        let doc = antrean_gateway::openapi::document();
        let schema = &doc["paths"][path][method]["responses"][status.to_string()]["content"]["application/json"]
            ["schema"];
        assert!(
            !schema.is_null(),
            "no {status} response documented for {method} {path}"
        );
        if let Err(e) = conforms(&doc, schema, body, "$") {
            panic!("{method} {path} {status} does not match the OpenAPI document: {e}");
        }
    }
}

/// Staff accounts for tests: a directorate admin made by the bootstrap path, and helpers that
/// create and sign in staff through the identity RPCs.
pub mod staff {
    use antrean_platform::actor::with_token;
    use antrean_proto::v1 as pb;
    use antrean_proto::v1::identity_service_client::IdentityServiceClient;

    pub const PASSWORD: &str = "kata-sandi-uji-123";

    pub struct Staffer {
        pub username: String,
        pub token: String,
    }

    /// The bootstrap admin's token (created straight in the store, as the command does).
    pub async fn admin(system: &super::System) -> Staffer {
        let pool_identity = sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .after_connect(|c, _| {
                Box::pin(async move {
                    sqlx::Executor::execute(c, "SET search_path = identity").await?;
                    Ok(())
                })
            })
            .connect(&system.database_url)
            .await
            .unwrap();
        let created = antrean_identity::staff::StaffStore::new(pool_identity)
            .create(
                antrean_identity::staff::NewStaff {
                    username: "admin.pusat".into(),
                    display_name: "Admin Pusat".into(),
                    password: PASSWORD.into(),
                    role: antrean_platform::actor::Role::DirectorateAdmin,
                    office_code: String::new(),
                },
                None,
                system.clock_now(),
            )
            .await;
        assert!(
            created.is_ok()
                || matches!(
                    created,
                    Err(antrean_identity::staff::CreateError::UsernameTaken)
                )
        );
        login(system, "admin.pusat").await
    }

    pub async fn client(
        system: &super::System,
    ) -> IdentityServiceClient<tonic::transport::Channel> {
        IdentityServiceClient::connect(system.identity_url.clone())
            .await
            .unwrap()
    }

    pub async fn login(system: &super::System, username: &str) -> Staffer {
        let s = client(system)
            .await
            .authenticate_staff(pb::AuthenticateStaffRequest {
                username: username.into(),
                password: PASSWORD.into(),
            })
            .await
            .unwrap()
            .into_inner();
        Staffer {
            username: s.username,
            token: s.access_token,
        }
    }

    /// Creates `username` with `role` at `office` (as `by`) and signs it in.
    pub async fn create(
        system: &super::System,
        by: &Staffer,
        username: &str,
        role: pb::StaffRole,
        office: &str,
    ) -> Staffer {
        client(system)
            .await
            .create_staff(with_token(
                tonic::Request::new(pb::CreateStaffRequest {
                    username: username.into(),
                    display_name: username.into(),
                    password: PASSWORD.into(),
                    role: role as i32,
                    office_code: office.into(),
                }),
                &by.token,
            ))
            .await
            .unwrap();
        login(system, username).await
    }
}

impl System {
    pub fn clock_now(&self) -> DateTime<Utc> {
        self.clock.now()
    }
}

/// A staff token under the development key for `role` at `office` (empty for admins), as
/// the identity service would issue after sign-in.
pub fn staff_token(role: antrean_platform::actor::Role, office: &str) -> String {
    antrean_platform::actor::Tokens::dev().sign(&antrean_platform::actor::Actor {
        staff_id: format!("{}-{office}", role.code()),
        username: format!("{}.{}", role.code().to_lowercase(), office.to_lowercase()),
        role,
        office_code: office.into(),
        expires_at: 4_102_444_800,
    })
}

/// `req` carrying `token`.
pub fn as_staff<T>(token: &str, req: T) -> tonic::Request<T> {
    antrean_platform::actor::with_token(tonic::Request::new(req), token)
}

/// Runs `tests/browser/<script>` in Node (Debian chromium + playwright-core, which `make test`
/// installs) with `args`, and asserts it succeeded and printed `<name> ok`.
pub async fn run_browser_script(script: &str, args: &[&str]) {
    use std::path::Path;
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("browser");
    assert!(
        dir.join("node_modules/playwright-core").exists()
            && Path::new("/usr/bin/chromium").exists(),
        "browser tests need Debian chromium and playwright-core: run `make test`, which installs them"
    );
    let out = tokio::process::Command::new("node")
        .arg(dir.join(script))
        .args(args)
        .output()
        .await
        .expect("node");
    let log = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let name = script.trim_end_matches(".mjs");
    assert!(out.status.success(), "{script} failed:\n{log}");
    assert!(log.contains(&format!("{name} ok")), "{log}");
}

/// A signed-in staff member's browser, over plain HTTP: the session cookie, and the CSRF
/// token of the console added to every form.
pub struct StaffBrowser {
    pub http: reqwest::Client,
    pub base: String,
    pub cookie: String,
}

impl StaffBrowser {
    pub async fn sign_in(base: &str, username: &str) -> StaffBrowser {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let r = http
            .post(format!("{base}/petugas/masuk"))
            .form(&[("username", username), ("password", staff::PASSWORD)])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 303, "{username}");
        let cookie = r.headers()["set-cookie"].to_str().unwrap().to_owned();
        assert!(
            cookie.contains("HttpOnly")
                && cookie.contains("Secure")
                && cookie.contains("SameSite=Strict")
        );
        StaffBrowser {
            http,
            base: base.to_owned(),
            cookie: cookie.split(';').next().unwrap().to_owned(),
        }
    }

    pub async fn get(&self, path: &str) -> (u16, String) {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }

    pub async fn csrf(&self) -> String {
        let (_, page) = self.get("/petugas").await;
        let at = page.find("name=\"csrf\" value=\"").unwrap() + 19;
        page[at..at + 32].to_owned()
    }

    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> (u16, String) {
        let csrf = self.csrf().await;
        let mut form: Vec<(&str, &str)> = form.to_vec();
        form.push(("csrf", &csrf));
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .form(&form)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }
}
