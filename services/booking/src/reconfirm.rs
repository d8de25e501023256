//! Reconfirmation, optional per office: the H-1 reminder asks for a reply, and a booking not
//! reconfirmed by the office's cut-off (office-local time on the day before) is cancelled,
//! its seats go back and the session's waitlist gets them on the same sweep.
use crate::bookings::{BookingView, Bookings, change};
use crate::error::{BookingError, Result};
use crate::status::BookingStatus;
use antrean_platform::actor::Actor;
use antrean_platform::domain::{format_hhmm, local_instant, parse_hhmm};
use antrean_platform::status::FieldViolation;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use uuid::Uuid;

/// An office's reconfirmation rule.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Setting {
    pub office_code: String,
    pub reconfirm_required: bool,
    pub reconfirm_cutoff_local: String,
}

impl Bookings {
    pub async fn reconfirmation(&self, office: &str) -> Result<Setting> {
        let row: Option<Setting> = sqlx::query_as!(
            Setting,
            "SELECT * FROM office_settings WHERE office_code = $1",
            office
        )
        .fetch_optional(self.pool())
        .await?;
        Ok(row.unwrap_or(Setting {
            office_code: office.to_owned(),
            reconfirm_required: false,
            reconfirm_cutoff_local: "20:00".into(),
        }))
    }

    pub async fn set_reconfirmation(
        &self,
        by: &Actor,
        office: &str,
        required: bool,
        cutoff: &str,
    ) -> Result<Setting> {
        let office = office.trim().to_uppercase();
        self.office(&office).await?;
        let cutoff = match cutoff.trim() {
            "" => "20:00".to_owned(),
            t => format_hhmm(parse_hhmm(t).ok_or_else(|| {
                BookingError::Invalid(vec![FieldViolation::bilingual(
                    "cutoff_local",
                    "format JJ:MM, misalnya 20:00",
                    "format HH:MM, e.g. 20:00",
                )])
            })?),
        };
        let before = self.reconfirmation(&office).await?;
        let mut tx = self.pool().begin().await?;
        let row: Setting = sqlx::query_as!(
            Setting,
            "INSERT INTO office_settings (office_code, reconfirm_required, reconfirm_cutoff_local)
             VALUES ($1, $2, $3)
             ON CONFLICT (office_code) DO UPDATE
                SET reconfirm_required = $2, reconfirm_cutoff_local = $3
             RETURNING *",
            &office,
            required,
            &cutoff
        )
        .fetch_one(&mut *tx)
        .await?;
        antrean_platform::audit::record(
            &mut *tx,
            antrean_platform::audit::Action {
                actor: by,
                action: "SetReconfirmation",
                office_code: &office,
                target: &office,
                before: Some(serde_json::json!({"required": before.reconfirm_required, "cutoff_local": before.reconfirm_cutoff_local})),
                after: Some(serde_json::json!({"required": required, "cutoff_local": cutoff})),
                at: self.now(),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(row)
    }

    /// The deadline a reminder sent now asks for, if the office wants reconfirmation and the
    /// cut-off is still ahead.
    pub(crate) async fn reconfirm_deadline(
        &self,
        office: &str,
        date: NaiveDate,
        tz: chrono_tz::Tz,
    ) -> Result<Option<DateTime<Utc>>> {
        let s = self.reconfirmation(office).await?;
        if !s.reconfirm_required {
            return Ok(None);
        }
        let cutoff = parse_hhmm(&s.reconfirm_cutoff_local)
            .unwrap_or_else(|| chrono::NaiveTime::from_hms_opt(20, 0, 0).unwrap_or_default());
        let at = local_instant(tz, date - Duration::days(1), cutoff);
        Ok((at > self.now()).then_some(at))
    }

    /// The applicant reconfirms (code and phone, as for cancelling). Idempotent.
    pub async fn reconfirm(&self, code: &str, phone: &str) -> Result<BookingView> {
        let b = self.by_code(code, phone).await?.booking;
        if b.status != BookingStatus::Confirmed {
            return Err(BookingError::WrongStatus(b.status.as_str().to_owned()));
        }
        sqlx::query!(
            "UPDATE bookings SET reconfirmed_at = COALESCE(reconfirmed_at, $2) WHERE id = $1",
            b.id,
            self.now()
        )
        .execute(self.pool())
        .await?;
        self.view(b.id).await
    }

    /// Cancels confirmed bookings whose reconfirmation deadline passed without a reply.
    /// Answers how many; their seats go back at once (or by the release retries).
    pub(crate) async fn release_unreconfirmed(&self) -> Result<usize> {
        let now = self.now();
        let mut tx = self.pool().begin().await?;
        let due: Vec<Uuid> = sqlx::query_scalar!(
            "SELECT id FROM bookings WHERE status = 'CONFIRMED' AND reconfirmed_at IS NULL
               AND reconfirm_by <= $1 FOR UPDATE SKIP LOCKED LIMIT 500",
            now
        )
        .fetch_all(&mut *tx)
        .await?;
        for id in &due {
            change(
                &mut tx,
                *id,
                BookingStatus::Confirmed,
                BookingStatus::Cancelled,
                "tidak dikonfirmasi ulang sebelum batas waktu",
                now,
            )
            .await?;
        }
        tx.commit().await?;
        for id in &due {
            self.release_seats(*id).await;
        }
        Ok(due.len())
    }
}
