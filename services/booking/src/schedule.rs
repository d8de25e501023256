//! Scheduled times inside a session: queue numbers are called in batches spread evenly over
//! the session, so applicants do not all arrive at its start.
use antrean_platform::domain::local_instant;
use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};
use chrono_tz::Tz;

/// The scheduled instant of queue number `seq` (1-based).
///
/// The session is split into `ceil(capacity / batch)` equal slots (whole minutes); number
/// `seq` belongs to batch `(seq - 1) / batch`. Numbers beyond the capacity (capacity lowered
/// after booking) take the last slot.
pub fn scheduled_at(
    tz: Tz,
    date: NaiveDate,
    start: NaiveTime,
    end: NaiveTime,
    capacity: u32,
    batch: u32,
    seq: u32,
) -> DateTime<Utc> {
    let batch = batch.max(1);
    let batches = capacity.max(1).div_ceil(batch);
    let minutes = (end - start).num_minutes().max(1) as u32;
    let slot = (minutes / batches).max(1);
    let index = ((seq.max(1) - 1) / batch).min(batches - 1);
    local_instant(tz, date, start) + Duration::minutes(i64::from(index * slot))
}

#[cfg(test)]
mod tests {
    use super::*;
    use antrean_platform::domain::local_hhmm;

    fn t(h: u32, m: u32) -> NaiveTime {
        NaiveTime::from_hms_opt(h, m, 0).unwrap()
    }

    #[test]
    fn seventy_five_in_batches_of_fifteen_over_four_hours() {
        let d: NaiveDate = "2026-12-01".parse().unwrap();
        let at = |seq| {
            local_hhmm(
                Tz::Asia__Jakarta,
                scheduled_at(Tz::Asia__Jakarta, d, t(8, 0), t(12, 0), 75, 15, seq),
            )
        };
        assert_eq!(at(1), "08:00");
        assert_eq!(at(15), "08:00");
        assert_eq!(at(16), "08:48");
        assert_eq!(at(75), "11:12");
        assert_eq!(at(90), "11:12");
    }

    #[test]
    fn local_time_is_the_offices_own() {
        let d: NaiveDate = "2026-12-01".parse().unwrap();
        let wit = scheduled_at(Tz::Asia__Jayapura, d, t(8, 0), t(12, 0), 75, 15, 1);
        assert_eq!(wit.to_rfc3339(), "2026-11-30T23:00:00+00:00");
        let wita = scheduled_at(Tz::Asia__Makassar, d, t(13, 0), t(16, 0), 75, 15, 20);
        assert_eq!(local_hhmm(Tz::Asia__Makassar, wita), "13:36");
    }
}
