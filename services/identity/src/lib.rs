//! The identity service: who books, and with which contact.
//!
//! - [`nik`], [`person`]: validation of NIK, names and birth dates (Indonesian phone numbers:
//!   `antrean_platform::phone`).
//! - `antrean_platform::pii`: encryption at rest and keyed-hash lookups for NIK, phone, e-mail.
//! - [`store`]: the `identity` schema (contacts, applicants, no-shows, blocks).
//! - [`staff`]: staff accounts (Argon2id), roles, lock-out, actor tokens.
//! - [`verify`]: proof of a web/app contact (a code, then a contact token).
//! - [`grpc`]: the gRPC service `antrean.v1.IdentityService`.
//! - [`config`]: settings from the environment.

pub mod config;
pub mod grpc;
pub mod nik;
pub mod person;
pub mod staff;
pub mod store;
pub mod verify;

pub use config::IdentityConfig;

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Connects, migrates and builds the gRPC service.
pub async fn build(
    config: &IdentityConfig,
    clock: antrean_platform::clock::SharedClock,
) -> anyhow::Result<grpc::IdentityGrpc> {
    let pool = antrean_platform::db::connect_and_migrate(
        &config.database_url,
        "identity",
        config.db_max_connections,
        &MIGRATOR,
    )
    .await?;
    let pii = config.pii.load()?;
    let staff = staff::StaffStore::new(pool.clone()).with_hash_bound(
        config.password_hash_concurrency,
        std::time::Duration::from_millis(config.password_hash_wait_ms),
    );
    let tokens = config.actor_key.load()?;
    // Other replicas disable accounts too: their tokens are refused here within a refresh.
    let store = staff.clone();
    tokens.spawn_disabled_refresh(move || {
        let store = store.clone();
        async move { Ok(store.disabled_ids().await?) }
    });
    Ok(grpc::IdentityGrpc::new(
        store::Store::new(pool.clone(), pii.clone()),
        verify::Verifications::new(pool, pii),
        staff,
        tokens,
        clock,
        config.penalty(),
    ))
}

/// `antrean-identity create-admin --username U --display-name N`: creates the first
/// directorate admin. The password comes from `ADMIN_PASSWORD`, else from standard input.
pub async fn create_admin(args: &[String]) -> anyhow::Result<()> {
    let mut username = None;
    let mut display_name = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--username" => username = it.next().cloned(),
            "--display-name" => display_name = it.next().cloned(),
            other => anyhow::bail!("unknown argument {other}"),
        }
    }
    let (Some(username), Some(display_name)) = (username, display_name) else {
        anyhow::bail!(
            "usage: antrean-identity create-admin --username U --display-name \"N\" \
             (password from ADMIN_PASSWORD or standard input)"
        );
    };
    let password = match std::env::var("ADMIN_PASSWORD") {
        Ok(p) => p,
        Err(_) => {
            let mut line = String::new();
            std::io::stdin().read_line(&mut line)?;
            line.trim_end_matches(['\r', '\n']).to_owned()
        }
    };
    let new = staff::check(staff::NewStaff {
        username,
        display_name,
        password,
        role: antrean_platform::actor::Role::DirectorateAdmin,
        office_code: String::new(),
    })
    .map_err(|v| {
        let lines: Vec<String> = v
            .iter()
            .map(|f| format!("{}: {}", f.field, f.description))
            .collect();
        anyhow::anyhow!(lines.join("; "))
    })?;
    let url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| antrean_platform::db::DEFAULT_DATABASE_URL.into());
    let pool = antrean_platform::db::connect_and_migrate(&url, "identity", 1, &MIGRATOR).await?;
    let row = staff::StaffStore::new(pool)
        .create(new, None, chrono::Utc::now())
        .await
        .map_err(|e| match e {
            staff::CreateError::UsernameTaken => anyhow::anyhow!("that username is taken"),
            staff::CreateError::Db(e) => e.into(),
        })?;
    println!("directorate admin {} created", row.username);
    Ok(())
}
