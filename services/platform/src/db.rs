//! Database setup shared by the services that own tables.
//!
//! Every service owns one PostgreSQL schema (`identity`, `quota`, `booking`, ...) in the same
//! database, and its connections use that schema as their `search_path`, so its migrations
//! (and their `_sqlx_migrations` table) stay inside it. No service reads another's schema.
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgPool};
use std::str::FromStr;
use std::time::Duration;

/// The database every service uses unless `DATABASE_URL` says otherwise.
pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/antrean";

/// `antrean-<service> migrate` (the Kubernetes migration Job): creates the database and the
/// service's schema, runs its migrations against `DATABASE_URL` and answers; `None` when the
/// process was started to serve. Serving migrates too (under PostgreSQL's migration lock), so
/// running the Job first is what keeps a slow migration out of the pods' startup.
pub async fn migrate_command(schema: &str, migrator: &Migrator) -> Option<anyhow::Result<()>> {
    if std::env::args().nth(1).as_deref() != Some("migrate") {
        return None;
    }
    let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| DEFAULT_DATABASE_URL.to_owned());
    Some(
        async {
            let pool = connect_and_migrate(&url, schema, 1, migrator).await?;
            // Dynamic on purpose (as every statement here): they run before, or outside of, a
            // service's schema, against whatever database the URL names.
            let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations")
                .fetch_one(&pool)
                .await?;
            println!("{schema}: {applied} migrations applied");
            pool.close().await;
            Ok(())
        }
        .await,
    )
}

/// Creates the database (if missing) and the schema, connects a pool whose connections use
/// the schema, and runs the service's migrations.
pub async fn connect_and_migrate(
    url: &str,
    schema: &str,
    max_connections: u32,
    migrator: &Migrator,
) -> anyhow::Result<PgPool> {
    let options = PgConnectOptions::from_str(url)?;
    ensure_database(&options).await?;
    ensure_schema(&options, schema).await?;
    let pool = PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(5))
        .connect_with(options.options([("search_path", schema)]))
        .await?;
    migrator.run(&pool).await?;
    crate::metrics::watch_pool(schema, pool.clone());
    Ok(pool)
}

async fn ensure_database(options: &PgConnectOptions) -> anyhow::Result<()> {
    let name = options.get_database().unwrap_or("postgres").to_owned();
    let mut admin = options.clone().database("postgres").connect().await?;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(&name)
            .fetch_one(&mut admin)
            .await?;
    if !exists {
        // A name is an identifier, which cannot be a bound parameter.
        let sql = format!("CREATE DATABASE \"{}\"", name.replace('"', "\"\""));
        // Several services start at once: another one may have created it meanwhile.
        if let Err(e) = sqlx::query(&sql).execute(&mut admin).await
            && !is_code(&e, "42P04")
            && !is_code(&e, "23505")
        {
            return Err(e.into());
        }
    }
    admin.close().await?;
    Ok(())
}

async fn ensure_schema(options: &PgConnectOptions, schema: &str) -> anyhow::Result<()> {
    let mut conn = options.connect().await?;
    let sql = format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\"");
    if let Err(e) = sqlx::query(&sql).execute(&mut conn).await
        && !is_code(&e, "42P06")
        && !is_code(&e, "23505")
    {
        return Err(e.into());
    }
    conn.close().await?;
    Ok(())
}

/// True when the error is a PostgreSQL error with this SQLSTATE.
pub fn is_code(e: &sqlx::Error, code: &str) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.code().as_deref() == Some(code))
}

/// True for a unique-constraint violation, optionally of one named constraint.
pub fn is_unique_violation(e: &sqlx::Error, constraint: Option<&str>) -> bool {
    match e {
        sqlx::Error::Database(d) if d.code().as_deref() == Some("23505") => {
            constraint.is_none() || d.constraint() == constraint
        }
        _ => false,
    }
}

/// Stores an enum as text through `sqlx::Type`: the type needs `fn as_str(self) ->
/// &'static str` and `fn parse(&str) -> Option<Self>`, and the column a CHECK listing the
/// same names. A stored name the type does not know fails to decode (never a default).
#[macro_export]
macro_rules! sqlx_text_enum {
    ($t:ty) => {
        impl ::sqlx::Type<::sqlx::Postgres> for $t {
            fn type_info() -> ::sqlx::postgres::PgTypeInfo {
                <&str as ::sqlx::Type<::sqlx::Postgres>>::type_info()
            }

            fn compatible(ty: &::sqlx::postgres::PgTypeInfo) -> bool {
                <&str as ::sqlx::Type<::sqlx::Postgres>>::compatible(ty)
            }
        }

        impl ::sqlx::Encode<'_, ::sqlx::Postgres> for $t {
            fn encode_by_ref(
                &self,
                buf: &mut ::sqlx::postgres::PgArgumentBuffer,
            ) -> Result<::sqlx::encode::IsNull, ::sqlx::error::BoxDynError> {
                <&str as ::sqlx::Encode<::sqlx::Postgres>>::encode(self.as_str(), buf)
            }
        }

        impl<'r> ::sqlx::Decode<'r, ::sqlx::Postgres> for $t {
            fn decode(
                value: ::sqlx::postgres::PgValueRef<'r>,
            ) -> Result<Self, ::sqlx::error::BoxDynError> {
                let s = <&str as ::sqlx::Decode<::sqlx::Postgres>>::decode(value)?;
                <$t>::parse(s).ok_or_else(|| format!("unknown {} {s:?}", stringify!($t)).into())
            }
        }
    };
}
