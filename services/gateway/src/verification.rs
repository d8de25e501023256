//! Proof of a web or app contact, for the JSON API and the portal alike.
//!
//! [`start`] asks identity for a code and hands it to the notification outbox: by WhatsApp
//! as the approved AUTHENTICATION template (from the national number: the code proves a
//! phone, not a visit to one office) and by e-mail where one was given. The client only
//! learns the verification id. [`confirm`] trades the right code for a contact token, the
//! bearer credential of bookings and draw entries.
//!
//! Limits shared by every replica (Redis): codes per phone, verifications per client
//! address and per client network. Confirmations are limited per client like look-ups by
//! code, and identity ends a verification after five wrong codes.
use crate::App;
use crate::error::ApiError;
use crate::ratelimit::SharedLimit;
use antrean_proto::v1 as pb;
use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

/// Verifications per client address per hour (a household or office behind one address
/// shares the network's limit instead).
const PER_CLIENT_PER_HOUR: u32 = 10;

/// The shared limits of contact verification.
pub struct VerificationLimits {
    pub per_phone: SharedLimit,
    pub per_client: SharedLimit,
    pub per_network: SharedLimit,
}

impl VerificationLimits {
    pub fn new(per_phone: u32, per_network: u32) -> Self {
        let hour = Duration::from_secs(3600);
        Self {
            per_phone: SharedLimit::new("codes:phone", per_phone, hour),
            per_client: SharedLimit::new("verifications:client", PER_CLIENT_PER_HOUR, hour),
            per_network: SharedLimit::new("verifications:net", per_network, hour),
        }
    }
}

/// Stores a code for `phone` (and `email`) and sends it; answers the verification.
pub async fn start(
    app: &App,
    client: IpAddr,
    phone: &str,
    email: &str,
    en: bool,
) -> Result<pb::Verification, ApiError> {
    let mut bad = Vec::new();
    let e164 = match antrean_platform::phone::normalize(phone) {
        Ok(p) => Some(p),
        Err((id, english)) => {
            bad.push(("phone".to_owned(), if en { english } else { id }.to_owned()));
            None
        }
    };
    let (Some(e164), true) = (e164, bad.is_empty()) else {
        return Err(ApiError::fields(en, bad));
    };
    let l = &app.fair.verifications;
    let (ip, net) = (client.to_string(), crate::client::network(client));
    app.shared
        .check_all(&[
            (&l.per_network, &net),
            (&l.per_client, &ip),
            (&l.per_phone, &e164),
        ])
        .await
        .map_err(|r| ApiError::refused(en, r))?;
    let v = app
        .backend
        .identity()
        .start_verification(pb::StartVerificationRequest {
            phone: e164,
            email: email.trim().to_owned(),
        })
        .await
        .map_err(|s| ApiError::from_status(&s, en))?
        .into_inner();
    send_code(app, &v)
        .await
        .map_err(|s| ApiError::from_status(&s, en))?;
    Ok(v)
}

/// Hands the code to the outbox: WhatsApp authentication template, and e-mail if given.
async fn send_code(app: &App, v: &pb::Verification) -> Result<(), tonic::Status> {
    let params: HashMap<String, String> = [
        ("code".to_owned(), v.code.clone()),
        ("minutes".to_owned(), v.code_minutes.to_string()),
    ]
    .into();
    let mut n = app.backend.notification();
    n.send(pb::SendRequest {
        idempotency_key: format!("verify:{}:wa", v.verification_id),
        channel: pb::Channel::Whatsapp as i32,
        recipient: Some(pb::Recipient {
            phone: v.phone.clone(),
            ..Default::default()
        }),
        sender_phone_number_id: app.config.whatsapp_info_phone_number_id.clone(),
        template: "verification_code".into(),
        parameters: params.clone(),
        attachment: None,
    })
    .await?;
    if !v.email.is_empty() {
        n.send(pb::SendRequest {
            idempotency_key: format!("verify:{}:email", v.verification_id),
            channel: pb::Channel::Email as i32,
            recipient: Some(pb::Recipient {
                email: v.email.clone(),
                ..Default::default()
            }),
            sender_phone_number_id: String::new(),
            template: "verification_code".into(),
            parameters: params,
            attachment: None,
        })
        .await?;
    }
    Ok(())
}

/// Trades the code for a contact token.
pub async fn confirm(
    app: &App,
    client: IpAddr,
    verification_id: &str,
    code: &str,
    en: bool,
) -> Result<pb::ContactProof, ApiError> {
    // Each verification ends after 5 wrong codes; this bounds the verifications tried.
    app.shared
        .check(
            &app.fair.lookups_per_network,
            &crate::client::network(client),
        )
        .await
        .map_err(|r| ApiError::refused(en, r))?;
    if code.trim().is_empty() {
        return Err(ApiError::fields(
            en,
            vec![("code".into(), crate::error::required(en))],
        ));
    }
    Ok(app
        .backend
        .identity()
        .confirm_verification(pb::ConfirmVerificationRequest {
            verification_id: verification_id.to_owned(),
            code: code.to_owned(),
        })
        .await
        .map_err(|s| ApiError::from_status(&s, en))?
        .into_inner())
}

/// How long a contact token lives (identity's `TOKEN_MINUTES`): the portal's cookie as well.
pub const TOKEN_SECONDS: u64 = 30 * 60;
