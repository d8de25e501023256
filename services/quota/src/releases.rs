//! When a date opens for booking, and the release draw's window after it.
//!
//! By an office's rule, the date entering the horizon (`today + BOOKING_HORIZON_DAYS`) opens
//! at the rule's office-local time of day (default 00:00), and for the rule's draw window
//! (default 300 s) only draw admissions may hold it: requests become entries of the draw,
//! which the booking service runs when the window closes. A scheduled release opens one
//! date at a given instant with its own window, even a date past the horizon.
//!
//! Every replica keeps the rules and scheduled releases in memory ([`Releases`]), loaded at
//! start, after its own changes and on every sweep, so the hold path reads no table. A change
//! made through another replica shows here within one sweep (`QUOTA_SWEEP_SECONDS`).
use antrean_platform::domain::local_instant;
use chrono::{DateTime, Days, Duration, NaiveDate, NaiveTime, Utc};
use chrono_tz::Tz;
use sqlx::{FromRow, PgPool};
use std::collections::HashMap;
use std::sync::RwLock;

/// The rule of an office without one of its own.
pub const DEFAULT_WINDOW_SECONDS: u32 = 300;

#[derive(Debug, Clone, Copy, PartialEq, Eq, FromRow)]
pub struct Rule {
    pub release_local: NaiveTime,
    pub draw_window_seconds: i32,
}

impl Default for Rule {
    fn default() -> Self {
        Rule {
            release_local: NaiveTime::MIN,
            draw_window_seconds: DEFAULT_WINDOW_SECONDS as i32,
        }
    }
}

/// One date's release.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Release {
    pub opens_at: DateTime<Utc>,
    pub draw_closes_at: DateTime<Utc>,
    pub scheduled: bool,
}

impl Release {
    /// Inside the draw window: requests are entries; only draw admissions hold.
    pub fn drawing(&self, now: DateTime<Utc>) -> bool {
        self.opens_at <= now && now < self.draw_closes_at
    }

    /// After the window, while the draw admits its winners (`settle` long): still only draw
    /// admissions, so the first seconds after the close are not a race either.
    pub fn settling(&self, now: DateTime<Utc>, settle: Duration) -> bool {
        self.draw_closes_at > self.opens_at
            && self.draw_closes_at <= now
            && now < self.draw_closes_at + settle
    }
}

#[derive(FromRow)]
pub struct RuleRow {
    pub office_code: String,
    #[sqlx(flatten)]
    pub rule: Rule,
}

#[derive(FromRow)]
pub struct ScheduledRow {
    pub office_code: String,
    pub date: NaiveDate,
    pub opens_at: DateTime<Utc>,
    pub draw_window_seconds: i32,
}

#[derive(Default)]
struct Loaded {
    rules: HashMap<String, Rule>,
    scheduled: HashMap<(String, NaiveDate), Release>,
}

#[derive(Default)]
pub struct Releases {
    loaded: RwLock<Loaded>,
}

impl Releases {
    /// Reads every rule and every scheduled release not long past.
    pub async fn reload(&self, pool: &PgPool, now: DateTime<Utc>) -> sqlx::Result<()> {
        let rules = crate::ledger::release_rules(pool).await?;
        let scheduled =
            crate::ledger::scheduled_releases(pool, (now - Duration::days(2)).date_naive()).await?;
        let loaded = Loaded {
            rules: rules.into_iter().map(|r| (r.office_code, r.rule)).collect(),
            scheduled: scheduled
                .into_iter()
                .map(|s| {
                    let opens_at = s.opens_at;
                    (
                        (s.office_code, s.date),
                        Release {
                            opens_at,
                            draw_closes_at: opens_at
                                + Duration::seconds(i64::from(s.draw_window_seconds)),
                            scheduled: true,
                        },
                    )
                })
                .collect(),
        };
        *self
            .loaded
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = loaded;
        Ok(())
    }

    /// The dates of an office with a scheduled release.
    pub fn scheduled_dates(&self, office: &str) -> Vec<NaiveDate> {
        self.loaded
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .scheduled
            .keys()
            .filter(|(o, _)| o == office)
            .map(|(_, d)| *d)
            .collect()
    }

    pub fn rule(&self, office: &str) -> Rule {
        self.loaded
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .rules
            .get(office)
            .copied()
            .unwrap_or_default()
    }

    /// The release of `date` at an office in `tz` whose horizon is `horizon_days`.
    pub fn of(&self, office: &str, tz: Tz, date: NaiveDate, horizon_days: u32) -> Release {
        let loaded = self
            .loaded
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(r) = loaded.scheduled.get(&(office.to_owned(), date)) {
            return *r;
        }
        let rule = loaded.rules.get(office).copied().unwrap_or_default();
        let day = date
            .checked_sub_days(Days::new(u64::from(horizon_days)))
            .unwrap_or(date);
        let opens_at = local_instant(tz, day, rule.release_local);
        Release {
            opens_at,
            draw_closes_at: opens_at + Duration::seconds(i64::from(rule.draw_window_seconds)),
            scheduled: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn by_default_the_date_entering_the_horizon_opens_at_local_midnight_with_a_draw() {
        let r = Releases::default();
        let date = NaiveDate::from_ymd_opt(2026, 12, 30).unwrap();
        let rel = r.of("BOGOR", Tz::Asia__Jakarta, date, 30);
        // 30 November 00:00 WIB.
        assert_eq!(rel.opens_at.to_rfc3339(), "2026-11-29T17:00:00+00:00");
        assert_eq!(rel.draw_closes_at - rel.opens_at, Duration::seconds(300));
        assert!(rel.drawing(rel.opens_at) && !rel.drawing(rel.draw_closes_at));
        assert!(!rel.scheduled);
    }
}
