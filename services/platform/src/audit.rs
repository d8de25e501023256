//! The staff audit trail: every staff action, who did it, when, and the state before and
//! after. Each service keeps its own `staff_actions` table (created by its migrations with
//! [`TABLE_SQL`]'s shape) and writes the row in the same transaction as the change.
use crate::actor::Actor;
use chrono::{DateTime, Utc};
use serde_json::Value;

/// The table every service with staff actions creates (kept here as the reference shape).
pub const TABLE_SQL: &str = "CREATE TABLE staff_actions (
    id           bigserial PRIMARY KEY,
    at           timestamptz NOT NULL,
    staff_id     text NOT NULL,
    username     text NOT NULL,
    role         text NOT NULL,
    office_code  text NOT NULL,
    action       text NOT NULL,
    target       text NOT NULL,
    before       jsonb,
    after        jsonb
)";

/// One action to record.
pub struct Action<'a> {
    pub actor: &'a Actor,
    /// e.g. `SetCapacity`, `CheckIn`, `CallNext`.
    pub action: &'a str,
    /// The office acted on (`""`: national).
    pub office_code: &'a str,
    /// What was acted on: a booking id, `BOGOR 2026-12-01 PAGI`, a username.
    pub target: &'a str,
    pub before: Option<Value>,
    pub after: Option<Value>,
    pub at: DateTime<Utc>,
}

/// Writes the row; call inside the transaction of the change it records.
pub async fn record<'e, E>(executor: E, a: Action<'_>) -> sqlx::Result<()>
where
    E: sqlx::PgExecutor<'e>,
{
    // Dynamic on purpose: the table is each calling service's own (its schema), and the
    // platform has no schema whose metadata a macro could check it against; every service's
    // tests run it.
    sqlx::query(
        "INSERT INTO staff_actions (at, staff_id, username, role, office_code, action, target,
            before, after)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(a.at)
    .bind(&a.actor.staff_id)
    .bind(&a.actor.username)
    .bind(a.actor.role.code())
    .bind(a.office_code)
    .bind(a.action)
    .bind(a.target)
    .bind(a.before)
    .bind(a.after)
    .execute(executor)
    .await?;
    Ok(())
}
