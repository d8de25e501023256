//! Staff accounts: Argon2id password hashes, roles bound to an office, lock-out after
//! repeated failures, and the actor tokens the other services check.
use antrean_platform::actor::{Actor, Role};
use antrean_platform::audit;
use antrean_platform::status::FieldViolation;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use chrono::{DateTime, Duration, Utc};
use sqlx::{FromRow, PgPool};
use std::sync::Arc;
use tokio::sync::Semaphore;
use uuid::Uuid;

/// Failures in a row that lock an account, and for how long.
pub const MAX_FAILED_LOGINS: i32 = 5;
pub const LOCK_MINUTES: i64 = 15;
pub const MIN_PASSWORD_LEN: usize = 10;

#[derive(Debug, Clone, FromRow)]
pub struct StaffRow {
    pub id: Uuid,
    pub username: String,
    pub display_name: String,
    pub password_hash: String,
    pub role: String,
    pub office_code: String,
    pub active: bool,
    pub failed_logins: i32,
    pub locked_until: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl StaffRow {
    pub fn role(&self) -> Role {
        Role::parse(&self.role).unwrap_or(Role::OfficeStaff)
    }

    pub fn actor(&self, expires_at: i64) -> Actor {
        Actor {
            staff_id: self.id.to_string(),
            username: self.username.clone(),
            role: self.role(),
            office_code: self.office_code.clone(),
            expires_at,
        }
    }
}

pub struct NewStaff {
    pub username: String,
    pub display_name: String,
    pub password: String,
    pub role: Role,
    pub office_code: String,
}

impl std::fmt::Debug for NewStaff {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewStaff")
            .field("username", &self.username)
            .field("role", &self.role)
            .field("office_code", &self.office_code)
            .finish_non_exhaustive()
    }
}

/// Checks a new account's fields; answers it with the username lower-cased.
pub fn check(mut s: NewStaff) -> Result<NewStaff, Vec<FieldViolation>> {
    let mut v = Vec::new();
    s.username = s.username.trim().to_lowercase();
    let ok_user = (3..=32).contains(&s.username.len())
        && s.username
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c));
    if !ok_user {
        v.push(FieldViolation::bilingual(
            "username",
            "3-32 karakter: huruf kecil, angka, titik, garis bawah atau tanda hubung",
            "3-32 characters: lower-case letters, digits, dots, underscores or hyphens",
        ));
    }
    s.display_name = s.display_name.trim().to_owned();
    if s.display_name.is_empty() || s.display_name.chars().count() > 80 {
        v.push(FieldViolation::bilingual(
            "display_name",
            "wajib diisi, paling banyak 80 karakter",
            "required, at most 80 characters",
        ));
    }
    if s.password.chars().count() < MIN_PASSWORD_LEN {
        v.push(FieldViolation::bilingual(
            "password",
            format!("paling sedikit {MIN_PASSWORD_LEN} karakter"),
            format!("at least {MIN_PASSWORD_LEN} characters"),
        ));
    }
    s.office_code = s.office_code.trim().to_uppercase();
    match (s.role, s.office_code.is_empty()) {
        (Role::DirectorateAdmin, false) => v.push(FieldViolation::bilingual(
            "office_code",
            "admin Ditjen tidak terikat pada satu kantor: kosongkan",
            "a directorate admin belongs to no office: leave it empty",
        )),
        (Role::OfficeStaff | Role::OfficeHead, true) => v.push(FieldViolation::bilingual(
            "office_code",
            "wajib diisi untuk petugas dan kepala kantor",
            "required for office staff and heads",
        )),
        _ => {}
    }
    if v.is_empty() { Ok(s) } else { Err(v) }
}

/// Argon2id with the crate's default cost, a random salt; a PHC string.
#[allow(
    clippy::expect_used,
    reason = "16 salt bytes encode, and the default parameters hash any password"
)]
pub fn hash_password(password: &str) -> String {
    let salt_bytes: [u8; 16] = rand::random();
    let salt = SaltString::encode_b64(&salt_bytes).expect("16 bytes");
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 with default parameters")
        .to_string()
}

pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| {
        argon2::Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// A hash to verify against when the username is unknown, so the answer takes as long.
fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash_password("decoy-password-never-used"))
}

#[derive(Debug)]
pub enum CreateError {
    UsernameTaken,
    Db(sqlx::Error),
}

#[derive(Debug)]
pub enum LoginError {
    Wrong,
    Locked(DateTime<Utc>),
    /// Every password-hash slot stayed taken for the whole wait: a flood of sign-ins.
    Busy,
    Db(sqlx::Error),
}

#[derive(Clone)]
pub struct StaffStore {
    pool: PgPool,
    /// Bounds the password hashes computed at once (each holds about 19 MiB): without it a
    /// few dozen parallel sign-ins, known usernames or not, would take the process's memory.
    hashing: Arc<Semaphore>,
    hash_wait: std::time::Duration,
}

impl StaffStore {
    pub fn new(pool: PgPool) -> Self {
        Self {
            pool,
            hashing: Arc::new(Semaphore::new(2)),
            hash_wait: std::time::Duration::from_secs(2),
        }
    }

    /// At most `concurrency` password hashes at once; a sign-in waits up to `wait` for one.
    pub fn with_hash_bound(mut self, concurrency: usize, wait: std::time::Duration) -> Self {
        self.hashing = Arc::new(Semaphore::new(concurrency.max(1)));
        self.hash_wait = wait;
        self
    }

    /// Creates an account (hashing off the async threads); `by` is recorded in the audit
    /// trail (`None`: the bootstrap command).
    pub async fn create(
        &self,
        s: NewStaff,
        by: Option<&Actor>,
        now: DateTime<Utc>,
    ) -> Result<StaffRow, CreateError> {
        let password = s.password.clone();
        let hash = tokio::task::spawn_blocking(move || hash_password(&password))
            .await
            .map_err(|e| CreateError::Db(sqlx::Error::Protocol(format!("hashing: {e}"))))?;
        let mut tx = self.pool.begin().await.map_err(CreateError::Db)?;
        let row: Option<StaffRow> = sqlx::query_as!(
            StaffRow,
            "INSERT INTO staff (id, username, display_name, password_hash, role, office_code,
                created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (username) DO NOTHING
             RETURNING *",
            Uuid::now_v7(),
            &s.username,
            &s.display_name,
            hash,
            s.role.code(),
            &s.office_code,
            now
        )
        .fetch_optional(&mut *tx)
        .await
        .map_err(CreateError::Db)?;
        let row = row.ok_or(CreateError::UsernameTaken)?;
        let bootstrap = Actor {
            staff_id: "bootstrap".into(),
            username: "antrean-identity create-admin".into(),
            role: Role::DirectorateAdmin,
            office_code: String::new(),
            expires_at: 0,
        };
        audit::record(
            &mut *tx,
            audit::Action {
                actor: by.unwrap_or(&bootstrap),
                action: "CreateStaff",
                office_code: &row.office_code,
                target: &row.username,
                before: None,
                after: Some(serde_json::json!({
                    "username": row.username, "display_name": row.display_name,
                    "role": row.role, "office_code": row.office_code,
                })),
                at: now,
            },
        )
        .await
        .map_err(CreateError::Db)?;
        tx.commit().await.map_err(CreateError::Db)?;
        Ok(row)
    }

    /// Checks a password; counts failures and locks the account after
    /// [`MAX_FAILED_LOGINS`]. Unknown users and wrong passwords answer alike.
    pub async fn authenticate(
        &self,
        username: &str,
        password: &str,
        now: DateTime<Utc>,
    ) -> Result<StaffRow, LoginError> {
        let username = username.trim().to_lowercase();
        let row: Option<StaffRow> = sqlx::query_as!(
            StaffRow,
            "SELECT * FROM staff WHERE username = $1 AND active",
            &username
        )
        .fetch_optional(&self.pool)
        .await
        .map_err(LoginError::Db)?;
        let hash = row
            .as_ref()
            .map_or_else(|| decoy_hash().to_owned(), |r| r.password_hash.clone());
        let password = password.to_owned();
        let Ok(Ok(_slot)) =
            tokio::time::timeout(self.hash_wait, self.hashing.clone().acquire_owned()).await
        else {
            return Err(LoginError::Busy);
        };
        let good = tokio::task::spawn_blocking(move || verify_password(&password, &hash))
            .await
            .unwrap_or(false);
        let Some(row) = row else {
            return Err(LoginError::Wrong);
        };
        if let Some(until) = row.locked_until.filter(|u| *u > now) {
            return Err(LoginError::Locked(until));
        }
        if good {
            sqlx::query!(
                "UPDATE staff SET failed_logins = 0, locked_until = NULL WHERE id = $1",
                row.id
            )
            .execute(&self.pool)
            .await
            .map_err(LoginError::Db)?;
            return Ok(row);
        }
        let (failed, locked): (i32, Option<DateTime<Utc>>) = sqlx::query!(
            "UPDATE staff SET failed_logins = failed_logins + 1,
                locked_until = CASE WHEN failed_logins + 1 >= $2 THEN $3::timestamptz ELSE NULL END
             WHERE id = $1 RETURNING failed_logins, locked_until",
            row.id,
            MAX_FAILED_LOGINS,
            now + Duration::minutes(LOCK_MINUTES)
        )
        .fetch_one(&self.pool)
        .await
        .map(|r| (r.failed_logins, r.locked_until))
        .map_err(LoginError::Db)?;
        if failed >= MAX_FAILED_LOGINS
            && let Some(until) = locked
        {
            // The count starts again after the lock.
            sqlx::query!("UPDATE staff SET failed_logins = 0 WHERE id = $1", row.id)
                .execute(&self.pool)
                .await
                .map_err(LoginError::Db)?;
            return Err(LoginError::Locked(until));
        }
        Err(LoginError::Wrong)
    }

    /// Disables or enables the account `username`, audited; `None` when there is none.
    pub async fn set_active(
        &self,
        username: &str,
        active: bool,
        by: &Actor,
        now: DateTime<Utc>,
    ) -> sqlx::Result<Option<StaffRow>> {
        let mut tx = self.pool.begin().await?;
        let before: Option<StaffRow> = sqlx::query_as!(
            StaffRow,
            "SELECT * FROM staff WHERE username = $1 FOR UPDATE",
            username.trim().to_lowercase()
        )
        .fetch_optional(&mut *tx)
        .await?;
        let Some(before) = before else {
            return Ok(None);
        };
        let row: StaffRow = sqlx::query_as!(
            StaffRow,
            "UPDATE staff SET active = $2 WHERE id = $1 RETURNING *",
            before.id,
            active
        )
        .fetch_one(&mut *tx)
        .await?;
        audit::record(
            &mut *tx,
            audit::Action {
                actor: by,
                action: if active {
                    "EnableStaff"
                } else {
                    "DisableStaff"
                },
                office_code: &row.office_code,
                target: &row.username,
                before: Some(serde_json::json!({"active": before.active})),
                after: Some(serde_json::json!({"active": row.active})),
                at: now,
            },
        )
        .await?;
        tx.commit().await?;
        Ok(Some(row))
    }

    /// The ids of disabled accounts.
    pub async fn disabled_ids(&self) -> sqlx::Result<Vec<String>> {
        sqlx::query_scalar!(r#"SELECT id::text AS "id!" FROM staff WHERE NOT active"#)
            .fetch_all(&self.pool)
            .await
    }

    /// The account `username`, active or not.
    pub async fn get(&self, username: &str) -> sqlx::Result<Option<StaffRow>> {
        sqlx::query_as!(
            StaffRow,
            "SELECT * FROM staff WHERE username = $1",
            username.trim().to_lowercase()
        )
        .fetch_optional(&self.pool)
        .await
    }

    /// Accounts of one office, or all with `office` empty.
    pub async fn list(&self, office: &str) -> sqlx::Result<Vec<StaffRow>> {
        sqlx::query_as!(
            StaffRow,
            "SELECT * FROM staff WHERE $1 = '' OR office_code = $1 ORDER BY office_code, username",
            office
        )
        .fetch_all(&self.pool)
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_only_against_their_own_hash() {
        let h = hash_password("rahasia-sekali-123");
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("rahasia-sekali-123", &h));
        assert!(!verify_password("rahasia-sekali-124", &h));
        assert_ne!(h, hash_password("rahasia-sekali-123"), "salted");
        assert!(!verify_password("x", "not a hash"));
    }

    #[test]
    fn accounts_need_a_username_a_long_password_and_the_right_office() {
        let ok = check(NewStaff {
            username: " Budi.Petugas ".into(),
            display_name: "Budi".into(),
            password: "panjang-sekali".into(),
            role: Role::OfficeStaff,
            office_code: "bogor".into(),
        })
        .unwrap();
        assert_eq!(
            (ok.username.as_str(), ok.office_code.as_str()),
            ("budi.petugas", "BOGOR")
        );
        let bad = check(NewStaff {
            username: "b".into(),
            display_name: " ".into(),
            password: "pendek".into(),
            role: Role::DirectorateAdmin,
            office_code: "BOGOR".into(),
        })
        .unwrap_err();
        let fields: Vec<&str> = bad.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(
            fields,
            ["username", "display_name", "password", "office_code"]
        );
    }
}
