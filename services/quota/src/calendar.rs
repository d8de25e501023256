//! Which dates an office serves, and which dates may be booked now.
use crate::config::Rules;
use chrono::{Datelike, Days, NaiveDate, Weekday};

/// Why a date takes no bookings. The codes travel in APIs (`closed_reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClosedReason {
    Weekend,
    Holiday,
    ClosedByOffice,
    OutsideHorizon,
    /// Inside the horizon, but its release time has not come yet.
    NotReleased,
}

impl ClosedReason {
    pub fn code(self) -> &'static str {
        match self {
            ClosedReason::Weekend => "WEEKEND",
            ClosedReason::Holiday => "HOLIDAY",
            ClosedReason::ClosedByOffice => "CLOSED_BY_OFFICE",
            ClosedReason::OutsideHorizon => "OUTSIDE_HORIZON",
            ClosedReason::NotReleased => "NOT_RELEASED",
        }
    }

    pub fn from_code(s: &str) -> Option<Self> {
        Some(match s {
            "WEEKEND" => ClosedReason::Weekend,
            "HOLIDAY" => ClosedReason::Holiday,
            "CLOSED_BY_OFFICE" => ClosedReason::ClosedByOffice,
            "OUTSIDE_HORIZON" => ClosedReason::OutsideHorizon,
            "NOT_RELEASED" => ClosedReason::NotReleased,
            _ => return None,
        })
    }

    /// In Bahasa Indonesia, for applicants.
    pub fn label(self) -> &'static str {
        match self {
            ClosedReason::Weekend => "hari Sabtu/Minggu, kantor tutup",
            ClosedReason::Holiday => "hari libur nasional",
            ClosedReason::ClosedByOffice => "kantor tidak melayani pada tanggal ini",
            ClosedReason::OutsideHorizon => "di luar rentang tanggal yang bisa dipesan",
            ClosedReason::NotReleased => "belum dibuka untuk pemesanan",
        }
    }
}

/// A date's rule before counting seats.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DayRule {
    Open { special: bool, note: String },
    Closed { reason: ClosedReason, note: String },
}

/// An office-specific override of the weekly rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Override {
    Closed,
    Special,
}

impl Override {
    /// From `quota_days.override` (`CLOSED` or `SPECIAL`, as the schema allows).
    pub fn from_column(value: &str) -> Self {
        if value == "CLOSED" {
            Override::Closed
        } else {
            Override::Special
        }
    }
}

/// Weekends and national holidays are closed, unless the office opened a special-event day;
/// an office may also close any date.
pub fn day_rule(
    date: NaiveDate,
    holiday: Option<&str>,
    override_: Option<(Override, &str)>,
) -> DayRule {
    match override_ {
        Some((Override::Closed, note)) => DayRule::Closed {
            reason: ClosedReason::ClosedByOffice,
            note: note.to_owned(),
        },
        Some((Override::Special, note)) => DayRule::Open {
            special: true,
            note: note.to_owned(),
        },
        None => {
            if let Some(name) = holiday {
                DayRule::Closed {
                    reason: ClosedReason::Holiday,
                    note: name.to_owned(),
                }
            } else if matches!(date.weekday(), Weekday::Sat | Weekday::Sun) {
                DayRule::Closed {
                    reason: ClosedReason::Weekend,
                    note: String::new(),
                }
            } else {
                DayRule::Open {
                    special: false,
                    note: String::new(),
                }
            }
        }
    }
}

/// First and last bookable date, given the office's local today.
pub fn horizon(today: NaiveDate, rules: Rules) -> (NaiveDate, NaiveDate) {
    (
        today + Days::new(u64::from(rules.min_lead_days)),
        today + Days::new(u64::from(rules.horizon_days)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn weekends_and_holidays_close_unless_special() {
        assert!(matches!(
            day_rule(d("2026-12-05"), None, None),
            DayRule::Closed {
                reason: ClosedReason::Weekend,
                ..
            }
        ));
        assert!(matches!(
            day_rule(d("2026-12-25"), Some("Hari Raya Natal"), None),
            DayRule::Closed {
                reason: ClosedReason::Holiday,
                ..
            }
        ));
        assert_eq!(
            day_rule(
                d("2026-12-05"),
                None,
                Some((Override::Special, "Paspor Simpatik"))
            ),
            DayRule::Open {
                special: true,
                note: "Paspor Simpatik".into()
            }
        );
        assert!(matches!(
            day_rule(d("2026-12-01"), None, Some((Override::Closed, "Renovasi"))),
            DayRule::Closed {
                reason: ClosedReason::ClosedByOffice,
                ..
            }
        ));
        assert!(matches!(
            day_rule(d("2026-12-01"), None, None),
            DayRule::Open { special: false, .. }
        ));
    }

    #[test]
    fn horizon_is_tomorrow_to_thirty_days() {
        let (a, b) = horizon(d("2026-11-23"), Rules::default());
        assert_eq!((a, b), (d("2026-11-24"), d("2026-12-23")));
    }
}
