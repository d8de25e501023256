//! Domain words shared by the services: sessions of the day, dates, instants and time zones.
use antrean_proto::v1 as pb;
use chrono::{DateTime, NaiveDate, NaiveTime, Offset, TimeZone, Utc};
use chrono_tz::Tz;
use std::fmt;
use std::str::FromStr;

/// A session of an office's service day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SessionOfDay {
    Pagi,
    Siang,
}

impl SessionOfDay {
    pub const ALL: [SessionOfDay; 2] = [SessionOfDay::Pagi, SessionOfDay::Siang];

    /// The word used in storage, APIs and chat: `PAGI` / `SIANG`.
    pub fn as_str(self) -> &'static str {
        match self {
            SessionOfDay::Pagi => "PAGI",
            SessionOfDay::Siang => "SIANG",
        }
    }

    /// Queue numbers of the morning start with A, of the afternoon with B.
    pub fn queue_letter(self) -> char {
        match self {
            SessionOfDay::Pagi => 'A',
            SessionOfDay::Siang => 'B',
        }
    }

    pub fn from_proto(value: i32) -> Option<Self> {
        match pb::Session::try_from(value).ok()? {
            pb::Session::Pagi => Some(SessionOfDay::Pagi),
            pb::Session::Siang => Some(SessionOfDay::Siang),
            pb::Session::Unspecified => None,
        }
    }

    pub fn to_proto(self) -> pb::Session {
        match self {
            SessionOfDay::Pagi => pb::Session::Pagi,
            SessionOfDay::Siang => pb::Session::Siang,
        }
    }
}

impl fmt::Display for SessionOfDay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SessionOfDay {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s.trim().to_ascii_uppercase().as_str() {
            "PAGI" | "SESSION_PAGI" => Ok(SessionOfDay::Pagi),
            "SIANG" | "SESSION_SIANG" => Ok(SessionOfDay::Siang),
            _ => Err(()),
        }
    }
}

/// Parses an ISO calendar date (`YYYY-MM-DD`).
pub fn parse_date(s: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").ok()
}

/// `YYYY-MM-DD`, written straight from the fields (chrono's `format` interprets its pattern
/// on every call; availability answers write a few hundred of these).
pub fn format_date(d: NaiveDate) -> String {
    use chrono::Datelike;
    if !(0..=9999).contains(&d.year()) {
        return d.format("%Y-%m-%d").to_string();
    }
    format!("{:04}-{:02}-{:02}", d.year(), d.month(), d.day())
}

/// Parses `HH:MM`.
pub fn parse_hhmm(s: &str) -> Option<NaiveTime> {
    NaiveTime::parse_from_str(s.trim(), "%H:%M").ok()
}

/// `HH:MM`, written straight from the fields (see [`format_date`]).
pub fn format_hhmm(t: NaiveTime) -> String {
    use chrono::Timelike;
    format!("{:02}:{:02}", t.hour(), t.minute())
}

pub fn to_timestamp(t: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: t.timestamp_subsec_nanos() as i32,
    }
}

pub fn from_timestamp(t: &prost_types::Timestamp) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(t.seconds, u32::try_from(t.nanos).ok()?)
}

/// Parses an IANA zone name (only zones chrono-tz knows).
pub fn parse_tz(name: &str) -> Option<Tz> {
    name.parse().ok()
}

/// Indonesia's three zones by their UTC offset: WIB (+7), WITA (+8), WIT (+9).
pub fn indonesian_zone_abbreviation(tz: Tz) -> &'static str {
    let offset = tz
        .offset_from_utc_datetime(&Utc::now().naive_utc())
        .fix()
        .local_minus_utc();
    match offset {
        25_200 => "WIB",
        28_800 => "WITA",
        32_400 => "WIT",
        _ => "UTC",
    }
}

/// The office-local date of an instant.
pub fn local_date(tz: Tz, at: DateTime<Utc>) -> NaiveDate {
    at.with_timezone(&tz).date_naive()
}

/// The instant of an office-local date and time. Indonesia has no daylight saving time, so
/// every local time exists exactly once.
pub fn local_instant(tz: Tz, date: NaiveDate, time: NaiveTime) -> DateTime<Utc> {
    let local = date.and_time(time);
    tz.from_local_datetime(&local)
        .earliest()
        .map_or_else(|| local.and_utc(), |t| t.with_timezone(&Utc))
}

/// Office-local `HH:MM` of an instant.
pub fn local_hhmm(tz: Tz, at: DateTime<Utc>) -> String {
    format_hhmm(at.with_timezone(&tz).time())
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn any_date_text_is_a_date_or_not(s in "\\PC{0,24}") {
            if let Some(d) = parse_date(&s) {
                let _ = tanggal(d);
            }
        }
    }

    #[test]
    fn zones_have_indonesian_names() {
        assert_eq!(indonesian_zone_abbreviation(Tz::Asia__Jakarta), "WIB");
        assert_eq!(indonesian_zone_abbreviation(Tz::Asia__Pontianak), "WIB");
        assert_eq!(indonesian_zone_abbreviation(Tz::Asia__Makassar), "WITA");
        assert_eq!(indonesian_zone_abbreviation(Tz::Asia__Jayapura), "WIT");
    }

    #[test]
    fn local_instants_round_trip_in_every_zone() {
        let d = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
        let t = NaiveTime::from_hms_opt(8, 0, 0).unwrap();
        let jayapura = local_instant(Tz::Asia__Jayapura, d, t);
        assert_eq!(jayapura.to_rfc3339(), "2026-11-30T23:00:00+00:00");
        assert_eq!(local_date(Tz::Asia__Jayapura, jayapura), d);
        assert_eq!(local_hhmm(Tz::Asia__Makassar, jayapura), "07:00");
    }

    #[test]
    fn dates_and_times_are_written_as_chrono_writes_them() {
        let mut d = NaiveDate::from_ymd_opt(1999, 12, 25).unwrap();
        for _ in 0..800 {
            assert_eq!(format_date(d), d.format("%Y-%m-%d").to_string());
            d = d + chrono::Days::new(13);
        }
        for d in [
            NaiveDate::from_ymd_opt(7, 1, 2).unwrap(),
            NaiveDate::from_ymd_opt(10_000, 1, 2).unwrap(),
        ] {
            assert_eq!(format_date(d), d.format("%Y-%m-%d").to_string());
        }
        for minute in (0..24 * 60).step_by(7) {
            let t = NaiveTime::from_hms_opt(minute / 60, minute % 60, 59).unwrap();
            assert_eq!(format_hhmm(t), t.format("%H:%M").to_string());
        }
    }

    #[test]
    fn sessions_parse_from_chat_and_proto_words() {
        assert_eq!("siang".parse::<SessionOfDay>(), Ok(SessionOfDay::Siang));
        assert_eq!(SessionOfDay::from_proto(1), Some(SessionOfDay::Pagi));
        assert_eq!(SessionOfDay::from_proto(0), None);
    }
}

/// A booking status (`CONFIRMED`, ...) as applicants read it.
pub fn booking_status_label(status: &str) -> &'static str {
    match status {
        "HELD" => "menunggu konfirmasi",
        "CONFIRMED" => "terkonfirmasi",
        "CHECKED_IN" => "sudah hadir",
        "SERVED" => "sudah dilayani",
        "EXPIRED" => "kedaluwarsa",
        "CANCELLED" => "dibatalkan",
        "FORFEITED" => "hangus (terlambat)",
        "NO_SHOW" => "tidak hadir",
        _ => "tidak dikenal",
    }
}

const HARI: [&str; 7] = [
    "Senin", "Selasa", "Rabu", "Kamis", "Jumat", "Sabtu", "Minggu",
];
const BULAN: [&str; 12] = [
    "Januari",
    "Februari",
    "Maret",
    "April",
    "Mei",
    "Juni",
    "Juli",
    "Agustus",
    "September",
    "Oktober",
    "November",
    "Desember",
];

/// Most people one booking (and so one hold, one draw entry, one waitlist place) may cover:
/// an applicant and up to four family members. Every service checks against this one number.
pub const MAX_APPLICANTS: u32 = 5;

/// The [`MAX_APPLICANTS`] rule as people read it: Bahasa Indonesia, then English.
pub fn applicants_rule() -> (String, String) {
    (
        format!("jumlah pemohon 1 sampai {MAX_APPLICANTS} orang"),
        format!("1 to {MAX_APPLICANTS} applicants"),
    )
}

/// The same rule for seats (a hold's seats are its people).
pub fn seats_rule() -> String {
    format!("jumlah kursi 1 sampai {MAX_APPLICANTS}")
}

/// A month's name as applicants read it: `Desember`.
pub fn bulan(d: NaiveDate) -> &'static str {
    use chrono::Datelike;
    BULAN.get(d.month0() as usize).copied().unwrap_or_default()
}

/// A date as applicants read it: `Selasa, 1 Desember 2026`.
pub fn tanggal(d: NaiveDate) -> String {
    use chrono::Datelike;
    format!(
        "{}, {} {} {}",
        HARI.get(d.weekday().num_days_from_monday() as usize)
            .copied()
            .unwrap_or_default(),
        d.day(),
        bulan(d),
        d.year()
    )
}

#[cfg(test)]
mod tanggal_tests {
    #[test]
    fn dates_read_in_bahasa_indonesia() {
        let d = chrono::NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
        assert_eq!(super::tanggal(d), "Selasa, 1 Desember 2026");
    }
}
