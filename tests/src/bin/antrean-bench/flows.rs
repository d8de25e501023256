//! Whole bookings under load, spread over 30 offices and their open dates:
//! - `grpc-booking` (mixed): CreateBooking then ConfirmBooking with the code it answered;
//! - `whatsapp`: signed classic-format webhooks through the gateway, each conversation
//!   (`#NAMA#DDMMYYYY#DDMMYYYY`, then the confirmation code) through to its confirmation
//!   reply at the Cloud API stand-in.
//!
//! Every attempt is a different person on a different phone, numbered from `base`, so runs
//! never collide. After each run, every confirmed booking is read back from the booking
//! service, and every accepted webhook must have had exactly one reply.
use crate::Bench;
use crate::drive::{Load, Outcome, Run, code_name, drive};
use antrean_proto::v1 as pb;
use chrono::{Duration as Days, NaiveDate};
use futures::StreamExt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Letters for a number: names may hold letters only.
pub(crate) fn letters(mut i: usize) -> String {
    let mut s = String::new();
    loop {
        s.insert(0, (b'a' + (i % 26) as u8) as char);
        i /= 26;
        if i == 0 {
            break s;
        }
    }
}

/// Person number `i`: a unique name, a birth date and a valid NIK.
fn person(i: usize) -> (String, NaiveDate, String) {
    let birth =
        NaiveDate::from_ymd_opt(1960, 1, 1).expect("date") + Days::days((i % 15_000) as i64);
    let nik = antrean_tests::nik(&birth.to_string(), (i / 15_000 + 1) as u32);
    (format!("Pemohon {}", letters(i)), birth, nik)
}

/// Where attempt `i` books: offices in turn, then dates, then sessions.
fn slot(b: &Bench, i: usize) -> (&crate::FlowOffice, NaiveDate, pb::Session) {
    let o = &b.flow_offices[i % b.flow_offices.len()];
    let k = i / b.flow_offices.len();
    let date = o.dates[k % o.dates.len()];
    let session = if (k / o.dates.len()).is_multiple_of(2) {
        pb::Session::Pagi
    } else {
        pb::Session::Siang
    };
    (o, date, session)
}

pub async fn grpc_booking(b: &Bench, c: usize, base: usize) -> (Run, Vec<String>) {
    let confirmed = Arc::new(Mutex::new(Vec::new()));
    let starts: Vec<_> = (0..b.args.bookings)
        .map(|i| {
            let i = base + i;
            let (o, date, session) = slot(b, i);
            let (name, birth, nik) = person(i);
            antrean_tests::create(
                &format!("bench-{i}"),
                &o.code,
                &date.to_string(),
                session,
                &format!("0813{i:08}"),
                vec![antrean_tests::applicant(&nik, &name, &birth.to_string())],
            )
        })
        .collect();
    let (requests, client, ids) = (Arc::new(starts), b.booking(), confirmed.clone());
    let run = b
        .measured(drive(
            "grpc-booking",
            b.args.bookings,
            c,
            b.max(),
            move |i| {
                let (mut client, req, ids) = (client.clone(), requests[i].clone(), ids.clone());
                async move {
                    let held = match client.create_booking(req).await {
                        Ok(r) => r.into_inner(),
                        Err(s) if s.code() == tonic::Code::ResourceExhausted => {
                            return Outcome::Refused;
                        }
                        Err(s) => return Outcome::Error(format!("create {}", code_name(&s))),
                    };
                    let id = held.booking.map(|b| b.booking_id).unwrap_or_default();
                    match client
                        .confirm_booking(pb::ConfirmBookingRequest {
                            booking_id: id.clone(),
                            confirmation_code: held.confirmation_code,
                        })
                        .await
                    {
                        Ok(_) => {
                            ids.lock().expect("poisoned").push(id);
                            Outcome::Admitted
                        }
                        Err(s) => Outcome::Error(format!("confirm {}", code_name(&s))),
                    }
                }
            },
        ))
        .await;
    let ids = std::mem::take(&mut *confirmed.lock().expect("poisoned"));
    let keys = ids
        .into_iter()
        .map(|id| (pb::get_booking_request::Key::BookingId(id), String::new()));
    let problems = b.confirmed_in_ledger("grpc-booking", c, keys).await;
    (run, problems)
}

pub async fn whatsapp(b: &Bench, c: usize, base: usize) -> ([Run; 2], Vec<String>) {
    let answers = Arc::new(Mutex::new(Vec::new()));
    let booked = Arc::new(Mutex::new(Vec::new()));
    let started = Instant::now();
    let conversations: Vec<(String, String, String)> = (0..b.args.conversations)
        .map(|i| {
            let i = base + i;
            let (o, date, _) = slot(b, i);
            let (name, birth, _) = person(i);
            let text = format!(
                "#{name}#{}#{}",
                birth.format("%d%m%Y"),
                date.format("%d%m%Y")
            );
            (o.phone_number_id.clone(), format!("62857{i:08}"), text)
        })
        .collect();
    let phones: Vec<String> = conversations.iter().map(|c| c.1.clone()).collect();
    let conversations = Arc::new(conversations);
    // Webhooks the gateway accepted (answered 200), per conversation.
    let accepted: Arc<Vec<AtomicUsize>> =
        Arc::new((0..phones.len()).map(|_| AtomicUsize::new(0)).collect());
    let (poster, cloud, answers_in, booked_in, accepted_in) = (
        b.webhooks(),
        b.cloud.clone(),
        answers.clone(),
        booked.clone(),
        accepted.clone(),
    );
    let mut run = b
        .measured(drive(
            "whatsapp-booking",
            b.args.conversations,
            c,
            b.max(),
            move |i| {
                let (poster, cloud) = (poster.clone(), cloud.clone());
                let (answers, booked, conversations, accepted) = (
                    answers_in.clone(),
                    booked_in.clone(),
                    conversations.clone(),
                    accepted_in.clone(),
                );
                async move {
                    let (number, phone, text) = &conversations[i];
                    let wait = Duration::from_secs(20);
                    let held = match poster.say(number, phone, text).await {
                        Ok(ms) => {
                            answers.lock().expect("poisoned").push(ms);
                            accepted[i].fetch_add(1, Ordering::Relaxed);
                            cloud.wait_for_recipient(phone, 1, wait).await
                        }
                        Err(e) => return Outcome::Error(e),
                    };
                    let Some(reply) = held.first().map(|m| antrean_tests::reply_text(&m.body))
                    else {
                        return Outcome::Error("no reply".into());
                    };
                    let Some(code) = line_after(&reply, "Kode konfirmasi:") else {
                        return if reply.contains("penuh") {
                            Outcome::Refused
                        } else {
                            Outcome::Error("unexpected reply".into())
                        };
                    };
                    match poster.say(number, phone, &code).await {
                        Ok(ms) => answers.lock().expect("poisoned").push(ms),
                        Err(e) => return Outcome::Error(e),
                    }
                    accepted[i].fetch_add(1, Ordering::Relaxed);
                    let replies = cloud.wait_for_recipient(phone, 2, wait).await;
                    let Some(reply) = replies.get(1).map(|m| antrean_tests::reply_text(&m.body))
                    else {
                        return Outcome::Error("no confirmation".into());
                    };
                    match line_after(&reply, "Kode booking:") {
                        Some(code) => {
                            booked.lock().expect("poisoned").push((code, phone.clone()));
                            Outcome::Admitted
                        }
                        None => Outcome::Error("unexpected confirmation".into()),
                    }
                }
            },
        ))
        .await;
    run.scenario = "whatsapp-booking";
    let mut webhook = Run {
        scenario: "whatsapp-webhook",
        concurrency: c,
        seconds: started.elapsed().as_secs_f64().min(run.seconds),
        ..Run::default()
    };
    let latencies = std::mem::take(&mut *answers.lock().expect("poisoned"));
    webhook.set_attempts(
        latencies
            .into_iter()
            .map(|ms| (ms, Outcome::Admitted))
            .collect(),
    );
    webhook.memory = run.memory.clone();

    // Late duplicates would show up after the conversation ended: give them a moment.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut problems = Vec::new();
    for (phone, accepted) in phones.iter().zip(accepted.iter()) {
        let (replies, accepted) = (replies_to(b, phone), accepted.load(Ordering::Relaxed));
        if replies.len() != accepted {
            let texts: Vec<String> = replies
                .iter()
                .map(|m| {
                    antrean_tests::reply_text(&m.body)
                        .chars()
                        .take(60)
                        .collect()
                })
                .collect();
            problems.push(format!(
                "whatsapp c={c}: {phone} got {} replies to {accepted} accepted messages: {texts:?}",
                replies.len()
            ));
        }
    }
    let booked = std::mem::take(&mut *booked.lock().expect("poisoned"));
    let keys = booked
        .into_iter()
        .map(|(code, phone)| (pb::get_booking_request::Key::BookingCode(code), phone));
    problems.extend(b.confirmed_in_ledger("whatsapp", c, keys).await);
    ([run, webhook], problems)
}

fn line_after(reply: &str, label: &str) -> Option<String> {
    reply
        .lines()
        .find_map(|l| l.trim().strip_prefix(label))
        .map(|s| s.trim().to_owned())
}

/// Posts signed webhooks to the gateway.
#[derive(Clone)]
pub struct Webhooks {
    pub http: reqwest::Client,
    pub url: String,
    pub seq: Arc<std::sync::atomic::AtomicUsize>,
    /// The Cloud API stand-in, which opens the sender's 24-hour window as Meta would.
    pub cloud: antrean_gateway::sandbox::Sandbox,
}

impl Webhooks {
    /// Posts `text` from `phone` to `number`; answers the HTTP answer's latency in ms.
    pub(crate) async fn say(&self, number: &str, phone: &str, text: &str) -> Result<f64, String> {
        let n = self.seq.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let body = antrean_gateway::webhook::text_webhook(
            number,
            "+62 811-0000-000",
            phone,
            &format!("wamid.BENCH{}{n:010}", std::process::id()),
            text,
            chrono::Utc::now().timestamp(),
        );
        self.cloud.observe_webhook(&body);
        let raw = serde_json::to_vec(&body).expect("json");
        let sig =
            antrean_gateway::signature::sign(antrean_gateway::DEV_APP_SECRET.as_bytes(), &raw);
        let t = Instant::now();
        let r = self
            .http
            .post(&self.url)
            .header("content-type", "application/json")
            .header("x-hub-signature-256", sig)
            .body(raw)
            .send()
            .await;
        match r {
            Ok(r) if r.status().as_u16() == 200 => Ok(t.elapsed().as_secs_f64() * 1000.0),
            Ok(r) => Err(format!("webhook HTTP {}", r.status().as_u16())),
            Err(e) if e.is_timeout() => Err("webhook timeout".into()),
            Err(_) => Err("webhook connection".into()),
        }
    }
}

impl Bench {
    /// Reads every booking back; each must be CONFIRMED.
    pub async fn confirmed_in_ledger(
        &self,
        scenario: &str,
        c: usize,
        keys: impl Iterator<Item = (pb::get_booking_request::Key, String)>,
    ) -> Vec<String> {
        let client = self.booking();
        let answers: Vec<Option<String>> = futures::stream::iter(keys)
            .map(|(key, phone)| {
                let mut client = client.clone();
                async move {
                    let what = format!("{key:?}");
                    match client
                        .get_booking(pb::GetBookingRequest {
                            key: Some(key),
                            contact_phone: phone,
                            office_code: String::new(),
                        })
                        .await
                    {
                        Ok(b) if b.get_ref().status == pb::BookingStatus::Confirmed as i32 => None,
                        Ok(b) => Some(format!("{what} is {:?}", b.get_ref().status())),
                        Err(s) => Some(format!("{what}: {}", code_name(&s))),
                    }
                }
            })
            .buffer_unordered(32)
            .collect()
            .await;
        answers
            .into_iter()
            .flatten()
            .map(|p| format!("{scenario} c={c}: confirmed booking lost: {p}"))
            .collect()
    }
}

/// `whatsapp-intake`: `#TGLLAYANAN` from as many phones as there are attempts, posted by
/// workers as fast as the gateway answers (the rate a release-minute crowd gets its messages
/// accepted) or at a fixed rate (the answer time at that rate), then every one must get
/// exactly one reply. Two rows: the webhook answers, and the replies
/// (latency from posting to the reply reaching the Cloud API stand-in).
pub async fn whatsapp_intake(b: &Bench, load: Load, base: usize) -> ([Run; 2], Vec<String>) {
    let n = b.args.intake;
    let c = load_name(load);
    let (scenario, replies_scenario) = match load {
        Load::Workers(_) => ("whatsapp-intake", "whatsapp-intake-replies"),
        Load::Rate(_) => ("whatsapp-intake-paced", "whatsapp-intake-paced-replies"),
    };
    let phones: Arc<Vec<String>> =
        Arc::new((0..n).map(|i| format!("62858{:08}", base + i)).collect());
    let numbers: Arc<Vec<String>> = Arc::new(
        (0..n)
            .map(|i| {
                b.flow_offices[i % b.flow_offices.len()]
                    .phone_number_id
                    .clone()
            })
            .collect(),
    );
    let posted: Arc<Vec<Mutex<Option<Instant>>>> =
        Arc::new((0..n).map(|_| Mutex::new(None)).collect());
    let (poster, p, nums, at) = (
        b.webhooks(),
        phones.clone(),
        numbers.clone(),
        posted.clone(),
    );
    let started = Instant::now();
    let accept = b
        .measured(load.drive(scenario, n, b.max(), move |i| {
            let (poster, p, nums, at) = (poster.clone(), p.clone(), nums.clone(), at.clone());
            async move {
                let t = Instant::now();
                match poster.say(&nums[i], &p[i], "#TGLLAYANAN").await {
                    Ok(_) => {
                        *at[i].lock().expect("poisoned") = Some(t);
                        Outcome::Admitted
                    }
                    Err(e) => Outcome::Error(e),
                }
            }
        }))
        .await;
    // Every accepted message's reply, waited for all at once.
    let waits = (0..n).filter_map(|i| {
        let sent = (*posted[i].lock().expect("poisoned"))?;
        let (cloud, phone) = (b.cloud.clone(), phones[i].clone());
        Some(async move {
            let got = cloud
                .wait_for_recipient(&phone, 1, Duration::from_secs(180))
                .await;
            (got.len(), sent.elapsed().as_secs_f64() * 1000.0)
        })
    });
    let replies: Vec<(usize, f64)> = futures::future::join_all(waits).await;
    let mut reply_run = Run {
        scenario: replies_scenario,
        concurrency: accept.concurrency,
        offered: accept.offered,
        seconds: started.elapsed().as_secs_f64(),
        ..Run::default()
    };
    // A reply that never came has no latency: the wait for it ran out.
    let mut answered = Vec::new();
    for (got, ms) in &replies {
        if *got >= 1 {
            answered.push((*ms, Outcome::Admitted));
        } else {
            *reply_run.errors.entry("no reply".into()).or_default() += 1;
        }
    }
    reply_run.set_attempts(answered);
    reply_run.done = replies.len();
    reply_run.print();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut problems = Vec::new();
    for (i, phone) in phones.iter().enumerate() {
        let expected = usize::from(posted[i].lock().expect("poisoned").is_some());
        let got = replies_to(b, phone).len();
        if got != expected {
            problems.push(format!(
                "{scenario} {c}: {phone} got {got} replies to {expected} accepted messages"
            ));
        }
    }
    // The driver's latencies are the webhook answers': nothing else happens in an attempt.
    ([accept, reply_run], problems)
}

/// `16` or `2000/s`, for the invariants' messages.
fn load_name(load: Load) -> String {
    match load {
        Load::Workers(c) => c.to_string(),
        Load::Rate(r) => format!("{r:.0}/s"),
    }
}

/// The replies sent to `phone`: its messages other than templates. A booking for tomorrow
/// also gets its H-1 reminder, an approved template, which answers no webhook.
fn replies_to(b: &Bench, phone: &str) -> Vec<antrean_gateway::sandbox::SandboxMessage> {
    b.cloud
        .messages_to(phone)
        .into_iter()
        .filter(|m| m.body["type"] != "template")
        .collect()
}
