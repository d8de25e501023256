//! Who is acting: staff authorisation carried on every staff RPC.
//!
//! The identity service checks a staff member's password and issues an actor token: the
//! staff id, username, role and office, and an expiry, signed with HMAC-SHA256 under
//! `STAFF_TOKEN_KEY` (shared by the services). The gateway keeps it in the staff session
//! and sends it as `x-antrean-actor` metadata; every service checks it again before a staff
//! RPC, so the rule "Bogor's staff cannot touch Jakarta" holds whoever calls.
//!
//! Roles: office staff work in their own office (check-in, calling, walk-ins); an office
//! head may also change its capacity and calendar; a directorate admin may do everything in
//! every office and manage staff.
use crate::status::Reason;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::collections::HashSet;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tonic::{Code, Status};

use crate::status::Problem;

/// The metadata key carrying the actor token.
pub const METADATA_KEY: &str = "x-antrean-actor";

/// Development key: used only when the environment sets none.
pub const DEV_TOKEN_KEY: &str = "6465762d6f6e6c792d73746166662d746f6b656e2d6b65792d30303030303030";

/// How long a token is good for (a working day).
pub const TOKEN_HOURS: i64 = 12;

#[derive(Debug, Clone, clap::Args)]
pub struct ActorKey {
    /// 32 bytes as 64 hex digits: signs and checks staff actor tokens.
    #[arg(long, env = "STAFF_TOKEN_KEY", default_value = DEV_TOKEN_KEY, hide_default_value = true)]
    pub staff_token_key: secrecy::SecretString,
}

impl Default for ActorKey {
    fn default() -> Self {
        Self {
            staff_token_key: DEV_TOKEN_KEY.into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    OfficeStaff,
    OfficeHead,
    DirectorateAdmin,
}

impl Role {
    pub fn code(self) -> &'static str {
        match self {
            Role::OfficeStaff => "OFFICE_STAFF",
            Role::OfficeHead => "OFFICE_HEAD",
            Role::DirectorateAdmin => "DIRECTORATE_ADMIN",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "OFFICE_STAFF" => Some(Role::OfficeStaff),
            "OFFICE_HEAD" => Some(Role::OfficeHead),
            "DIRECTORATE_ADMIN" => Some(Role::DirectorateAdmin),
            _ => None,
        }
    }

    /// In Bahasa Indonesia, for pages.
    pub fn label(self) -> &'static str {
        match self {
            Role::OfficeStaff => "Petugas kantor",
            Role::OfficeHead => "Kepala kantor",
            Role::DirectorateAdmin => "Admin Ditjen Imigrasi",
        }
    }
}

/// What a staff member may do somewhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// Check-in, calling, walk-ins, reading the office's bookings.
    Operate,
    /// Capacity, closed dates, special days, the office's reports.
    Manage,
    /// Staff accounts, every office.
    Administer,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub staff_id: String,
    pub username: String,
    pub role: Role,
    /// Empty for directorate admins.
    pub office_code: String,
    /// Unix seconds.
    pub expires_at: i64,
}

impl Actor {
    /// Whether this actor may do `what` in `office` (`""`: nationally).
    pub fn may(&self, what: Permission, office: &str) -> bool {
        let own = !office.is_empty() && office.eq_ignore_ascii_case(&self.office_code);
        match (self.role, what) {
            (Role::DirectorateAdmin, _) => true,
            (Role::OfficeHead, Permission::Operate | Permission::Manage) => own,
            (Role::OfficeStaff, Permission::Operate) => own,
            _ => false,
        }
    }

    /// PERMISSION_DENIED unless [`Actor::may`].
    pub fn require(&self, what: Permission, office: &str) -> Result<(), Status> {
        if self.may(what, office) {
            return Ok(());
        }
        let (id, en) = match what {
            Permission::Operate => (
                "Anda tidak berwenang melayani kantor ini.",
                "You may not act for this office.",
            ),
            Permission::Manage => (
                "Hanya kepala kantor ini atau admin Ditjen yang boleh mengubah kuota dan kalender.",
                "Only this office's head or a directorate admin may change capacity and calendar.",
            ),
            Permission::Administer => (
                "Hanya admin Ditjen Imigrasi yang boleh melakukan ini.",
                "Only a directorate admin may do this.",
            ),
        };
        Err(
            Problem::new(Code::PermissionDenied, Reason::NotPermitted, id, en)
                .with("office_code", office)
                .with("role", self.role.code())
                .into_status(),
        )
    }

    fn payload(&self) -> String {
        format!(
            "{}|{}|{}|{}|{}",
            self.staff_id,
            self.username,
            self.role.code(),
            self.office_code,
            self.expires_at
        )
    }
}

/// Signs and checks actor tokens.
#[derive(Clone)]
pub struct Tokens {
    key: [u8; 32],
    /// Staff ids whose accounts are disabled: their tokens are refused however genuine.
    disabled: Arc<RwLock<HashSet<String>>>,
}

/// How often a service asks identity for the disabled staff accounts.
pub const DISABLED_REFRESH: Duration = Duration::from_secs(20);

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tokens(..)")
    }
}

impl ActorKey {
    /// Production mode: a real key.
    pub fn check(&self, startup: &mut crate::production::Startup) {
        startup.secret("STAFF_TOKEN_KEY", &self.staff_token_key, &[DEV_TOKEN_KEY]);
    }

    pub fn load(&self) -> anyhow::Result<Tokens> {
        use secrecy::ExposeSecret;
        let bytes = hex::decode(self.staff_token_key.expose_secret().trim())
            .map_err(|_| anyhow::anyhow!("STAFF_TOKEN_KEY must be 64 hex digits"))?;
        let key = bytes
            .try_into()
            .map_err(|_| anyhow::anyhow!("STAFF_TOKEN_KEY must be 32 bytes (64 hex digits)"))?;
        Ok(Tokens {
            key,
            disabled: Arc::default(),
        })
    }
}

impl Tokens {
    pub fn dev() -> Self {
        #[allow(
            clippy::expect_used,
            reason = "the development key is a valid constant"
        )]
        ActorKey::default().load().expect("dev key")
    }

    fn mac(&self, payload: &str) -> Hmac<Sha256> {
        #[allow(clippy::expect_used, reason = "HMAC takes keys of any length")]
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("any key length");
        mac.update(payload.as_bytes());
        mac
    }

    /// `v1.<hex payload>.<hex mac>`: ASCII, fit for gRPC metadata and cookies.
    pub fn sign(&self, actor: &Actor) -> String {
        let payload = actor.payload();
        let tag = self.mac(&payload).finalize().into_bytes();
        format!("v1.{}.{}", hex::encode(payload), hex::encode(tag))
    }

    /// The actor a token names, if it is genuine and not expired at `now` (unix seconds).
    pub fn verify(&self, token: &str, now: i64) -> Option<Actor> {
        let mut parts = token.trim().split('.');
        let (Some("v1"), Some(payload), Some(tag), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return None;
        };
        let payload = String::from_utf8(hex::decode(payload).ok()?).ok()?;
        self.mac(&payload)
            .verify_slice(&hex::decode(tag).ok()?)
            .ok()?;
        let f: Vec<&str> = payload.split('|').collect();
        let [staff_id, username, role, office, expires] = f.as_slice() else {
            return None;
        };
        let actor = Actor {
            staff_id: (*staff_id).to_owned(),
            username: (*username).to_owned(),
            role: Role::parse(role)?,
            office_code: (*office).to_owned(),
            expires_at: expires.parse().ok()?,
        };
        (actor.expires_at > now).then_some(actor)
    }

    /// Replaces the set of disabled staff accounts.
    pub fn set_disabled(&self, staff_ids: impl IntoIterator<Item = String>) {
        let ids: HashSet<String> = staff_ids.into_iter().collect();
        *self.disabled.write().unwrap_or_else(|p| p.into_inner()) = ids;
    }

    /// Keeps the disabled accounts current: `fetch` (identity's `ListDisabledStaff`, or its
    /// own store) every [`DISABLED_REFRESH`]; a failed fetch keeps the last answer.
    pub fn spawn_disabled_refresh<F, Fut>(&self, fetch: F) -> tokio::task::JoinHandle<()>
    where
        F: Fn() -> Fut + Send + 'static,
        Fut: std::future::Future<Output = anyhow::Result<Vec<String>>> + Send,
    {
        let tokens = self.clone();
        tokio::spawn(async move {
            loop {
                match fetch().await {
                    Ok(ids) => tokens.set_disabled(ids),
                    Err(e) => {
                        tracing::warn!(error = %format!("{e:#}"), "disabled staff accounts not refreshed")
                    }
                }
                tokio::time::sleep(DISABLED_REFRESH).await;
            }
        })
    }

    /// [`Tokens::spawn_disabled_refresh`] from identity's `ListDisabledStaff`.
    pub fn refresh_disabled_from(
        &self,
        identity: antrean_proto::v1::identity_service_client::IdentityServiceClient<
            crate::grpc::TracedChannel,
        >,
    ) -> tokio::task::JoinHandle<()> {
        self.spawn_disabled_refresh(move || {
            let mut identity = identity.clone();
            async move {
                Ok(identity
                    .list_disabled_staff(antrean_proto::v1::ListDisabledStaffRequest {})
                    .await?
                    .into_inner()
                    .staff_ids)
            }
        })
    }

    /// The actor of a staff RPC: UNAUTHENTICATED without a valid, unexpired token, or with
    /// the token of a disabled account.
    pub fn actor<T>(&self, req: &tonic::Request<T>, now: i64) -> Result<Actor, Status> {
        let token = req
            .metadata()
            .get(METADATA_KEY)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let actor = self.verify(token, now);
        if let Some(a) = &actor
            && self
                .disabled
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .contains(&a.staff_id)
        {
            return Err(Problem::new(
                Code::Unauthenticated,
                Reason::AccountDisabled,
                "Akun petugas ini telah dinonaktifkan.",
                "This staff account has been disabled.",
            )
            .into_status());
        }
        actor.ok_or_else(|| {
            Problem::new(
                Code::Unauthenticated,
                Reason::StaffLoginRequired,
                "Silakan masuk sebagai petugas terlebih dahulu (sesi tidak ada atau kedaluwarsa).",
                "Staff sign-in required (no session, or it expired).",
            )
            .into_status()
        })
    }
}

/// For tests and local tools: a directorate admin's token under the development key, good
/// until 2100.
pub fn dev_admin_token() -> String {
    Tokens::dev().sign(&Actor {
        staff_id: "dev-admin".into(),
        username: "dev.admin".into(),
        role: Role::DirectorateAdmin,
        office_code: String::new(),
        expires_at: 4_102_444_800,
    })
}

/// `req` carrying [`dev_admin_token`].
pub fn as_dev_admin<T>(req: T) -> tonic::Request<T> {
    with_token(tonic::Request::new(req), &dev_admin_token())
}

/// Puts an actor token on a request (the gateway and tests).
pub fn with_token<T>(mut req: tonic::Request<T>, token: &str) -> tonic::Request<T> {
    if let Ok(v) = tonic::metadata::MetadataValue::try_from(token) {
        req.metadata_mut().insert(METADATA_KEY, v);
    }
    req
}

#[cfg(test)]
mod tests {
    use super::*;

    fn actor(role: Role, office: &str) -> Actor {
        Actor {
            staff_id: "s1".into(),
            username: "budi".into(),
            role,
            office_code: office.into(),
            expires_at: 2_000,
        }
    }

    #[test]
    fn tokens_round_trip_and_refuse_tampering_and_expiry() {
        let t = Tokens::dev();
        let a = actor(Role::OfficeHead, "BOGOR");
        let token = t.sign(&a);
        assert_eq!(t.verify(&token, 1_000), Some(a.clone()));
        assert_eq!(t.verify(&token, 2_000), None);
        // Another office written into the payload breaks the signature.
        let forged = {
            let mut b = a.clone();
            b.office_code = "JAKPUS".into();
            let good = t.sign(&b);
            let payload = good.split('.').nth(1).unwrap().to_owned();
            let tag = token.split('.').nth(2).unwrap().to_owned();
            format!("v1.{payload}.{tag}")
        };
        assert_eq!(t.verify(&forged, 1_000), None);
        let other = ActorKey {
            staff_token_key: "11".repeat(32).into(),
        }
        .load()
        .unwrap();
        assert_eq!(other.verify(&token, 1_000), None);
        assert_eq!(t.verify("garbage", 1_000), None);
    }

    #[test]
    fn roles_reach_exactly_their_offices() {
        use Permission::*;
        let staff = actor(Role::OfficeStaff, "BOGOR");
        let head = actor(Role::OfficeHead, "BOGOR");
        let admin = actor(Role::DirectorateAdmin, "");
        assert!(staff.may(Operate, "BOGOR") && !staff.may(Operate, "JAKPUS"));
        assert!(!staff.may(Manage, "BOGOR") && !staff.may(Administer, ""));
        assert!(head.may(Manage, "BOGOR") && !head.may(Manage, "JAKPUS"));
        assert!(!head.may(Operate, "") && !head.may(Administer, "BOGOR"));
        assert!(admin.may(Manage, "JAKPUS") && admin.may(Administer, ""));
        assert!(admin.may(Operate, ""));
        assert_eq!(
            staff.require(Manage, "BOGOR").unwrap_err().code(),
            Code::PermissionDenied
        );
    }
}
