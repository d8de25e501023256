//! The classic chat formats of the immigration offices' WhatsApp queue service, parsed.
//!
//! Case-insensitive, spaces around `#` ignored:
//! - `#TGLLAYANAN`: the next five dates with room;
//! - `#NAMA#DDMMYYYY#DDMMYYYY` (name, birth date, arrival date), optionally `#PAGI`/`#SIANG`;
//! - `#TUNGGU#NAMA#DDMMYYYY#DDMMYYYY[#PAGI|#SIANG]`: the waitlist of a full session;
//! - `#YA#<kode booking>`: reconfirms attendance when the H-1 reminder asks for it;
//! - six digits alone: the confirmation code;
//! - `#BATAL#<kode booking>`, `#STATUS#<kode booking>`, `#SARAN#<text>`;
//! - `MENU`, or anything else: the menu.
use chrono::NaiveDate;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Dates,
    Book {
        name: String,
        birth: NaiveDate,
        arrival: NaiveDate,
        session: Option<String>,
        /// `#PENGGANTIAN`: a replacement passport (full or expired); otherwise a new one.
        replacement: bool,
        /// `#ELEKTRONIK`: an e-passport; otherwise the ordinary one.
        electronic: bool,
    },
    /// The same fields as `Book`, for the waitlist of a full session.
    Wait {
        name: String,
        birth: NaiveDate,
        arrival: NaiveDate,
        session: Option<String>,
        replacement: bool,
        electronic: bool,
    },
    Confirm(String),
    Reconfirm(String),
    Cancel(String),
    /// `#UBAH#<kode booking>#DDMMYYYY`, optionally `#PAGI` or `#SIANG`.
    Reschedule {
        code: String,
        date: NaiveDate,
        session: Option<String>,
    },
    Status(String),
    /// `#CEK`: the sender's active bookings.
    Mine,
    Feedback(String),
    Menu,
    /// A row chosen from the menu list (`menu:...`).
    MenuRow(String),
}

/// Why a message that looked like a command could not be read; each has its reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChatError {
    BookFormat,
    BirthDate,
    ArrivalDate,
    Session,
    CancelFormat,
    RescheduleFormat,
    RescheduleDate,
    RescheduleSession,
    ReconfirmFormat,
    StatusFormat,
    FeedbackFormat,
    /// `#HILANG`, `#RUSAK` or `#GANTINAMA`: handled only at the office.
    OfficeOnly,
}

pub const BOOK_FORMAT: &str = "#NAMA#TGLLAHIR#TGLDATANG (tanggal DDMMYYYY), boleh ditambah #PAGI atau #SIANG, #PENGGANTIAN untuk penggantian paspor (penuh atau habis masa berlaku), dan #ELEKTRONIK untuk e-paspor";
pub const BOOK_EXAMPLE: &str = "#Budi Santoso#25011987#01122026#PAGI";
pub const RESCHEDULE_FORMAT: &str =
    "#UBAH#KODEBOOKING#TGLBARU (tanggal DDMMYYYY), boleh ditambah #PAGI atau #SIANG";
pub const RESCHEDULE_EXAMPLE: &str = "#UBAH#7K3M-9QX2-HT4R-D#03122026#SIANG";
pub const WAIT_FORMAT: &str =
    "#TUNGGU#NAMA#TGLLAHIR#TGLDATANG (tanggal DDMMYYYY), boleh ditambah #PAGI atau #SIANG";
pub const WAIT_EXAMPLE: &str = "#TUNGGU#Budi Santoso#25011987#01122026#PAGI";

impl ChatError {
    /// (message, format, example) in Bahasa Indonesia.
    pub fn reply(&self) -> (&'static str, &'static str, &'static str) {
        match self {
            ChatError::BookFormat => ("Format pesan tidak dikenali.", BOOK_FORMAT, BOOK_EXAMPLE),
            ChatError::BirthDate => (
                "Tanggal lahir tidak valid. Tulis 8 angka: tanggal, bulan, tahun.",
                BOOK_FORMAT,
                BOOK_EXAMPLE,
            ),
            ChatError::ArrivalDate => (
                "Tanggal kedatangan tidak valid. Tulis 8 angka: tanggal, bulan, tahun.",
                BOOK_FORMAT,
                BOOK_EXAMPLE,
            ),
            ChatError::Session => (
                "Sesi hanya PAGI atau SIANG; untuk penggantian paspor tambahkan #PENGGANTIAN.",
                BOOK_FORMAT,
                BOOK_EXAMPLE,
            ),
            ChatError::CancelFormat => (
                "Kode booking belum ditulis.",
                "#BATAL#KODEBOOKING",
                "#BATAL#7K3M-9QX2-HT4R-D",
            ),
            ChatError::RescheduleFormat => (
                "Kode booking dan tanggal baru belum ditulis.",
                RESCHEDULE_FORMAT,
                RESCHEDULE_EXAMPLE,
            ),
            ChatError::RescheduleDate => (
                "Tanggal baru tidak valid. Tulis 8 angka: tanggal, bulan, tahun.",
                RESCHEDULE_FORMAT,
                RESCHEDULE_EXAMPLE,
            ),
            ChatError::RescheduleSession => (
                "Sesi hanya PAGI atau SIANG.",
                RESCHEDULE_FORMAT,
                RESCHEDULE_EXAMPLE,
            ),
            ChatError::ReconfirmFormat => (
                "Kode booking belum ditulis.",
                "#YA#KODEBOOKING",
                "#YA#7K3M-9QX2-HT4R-D",
            ),
            ChatError::StatusFormat => (
                "Kode booking belum ditulis.",
                "#STATUS#KODEBOOKING",
                "#STATUS#7K3M-9QX2-HT4R-D",
            ),
            ChatError::FeedbackFormat => (
                "Isi pesan belum ditulis.",
                "#SARAN#isi pesan",
                "#SARAN#Pelayanan loket 3 cepat dan ramah",
            ),
            ChatError::OfficeOnly => (
                antrean_platform::requirements::OFFICE_ONLY_ID,
                BOOK_FORMAT,
                BOOK_EXAMPLE,
            ),
        }
    }
}

/// `DDMMYYYY` (dots, slashes or dashes between parts are tolerated).
pub fn parse_ddmmyyyy(s: &str) -> Option<NaiveDate> {
    let digits: String = s
        .chars()
        .filter(|c| !matches!(c, '.' | '/' | '-' | ' '))
        .collect();
    if digits.len() != 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let d = digits[0..2].parse().ok()?;
    let m = digits[2..4].parse().ok()?;
    let y = digits[4..8].parse().ok()?;
    NaiveDate::from_ymd_opt(y, m, d)
}

pub fn format_ddmmyyyy(d: NaiveDate) -> String {
    d.format("%d%m%Y").to_string()
}

pub fn parse(text: &str) -> Result<Command, ChatError> {
    let t = text.trim();
    let compact: String = t.chars().filter(|c| !c.is_whitespace()).collect();
    if compact.len() == 6 && compact.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(Command::Confirm(compact));
    }
    if !t.starts_with('#') {
        // "MENU", a greeting, a question: the menu answers everything not understood.
        return Ok(Command::Menu);
    }
    let parts: Vec<&str> = t.split('#').map(str::trim).skip(1).collect();
    let head = parts.first().copied().unwrap_or("").to_uppercase();
    let arg = |i: usize| parts.get(i).copied().filter(|s| !s.is_empty());
    match head.as_str() {
        "TGLLAYANAN" => return Ok(Command::Dates),
        "CEK" => return Ok(Command::Mine),
        "MENU" => return Ok(Command::Menu),
        "BATAL" => {
            return arg(1)
                .map(|c| Command::Cancel(c.to_owned()))
                .ok_or(ChatError::CancelFormat);
        }
        "UBAH" => {
            let (Some(code), Some(date)) = (arg(1), arg(2)) else {
                return Err(ChatError::RescheduleFormat);
            };
            let date = parse_ddmmyyyy(date).ok_or(ChatError::RescheduleDate)?;
            let session = match arg(3).map(str::to_uppercase) {
                None => None,
                Some(s) if s == "PAGI" || s == "SIANG" => Some(s),
                Some(_) => return Err(ChatError::RescheduleSession),
            };
            if parts.len() > 4 {
                return Err(ChatError::RescheduleFormat);
            }
            return Ok(Command::Reschedule {
                code: code.to_owned(),
                date,
                session,
            });
        }
        "YA" => {
            return arg(1)
                .map(|c| Command::Reconfirm(c.to_owned()))
                .ok_or(ChatError::ReconfirmFormat);
        }
        "STATUS" => {
            return arg(1)
                .map(|c| Command::Status(c.to_owned()))
                .ok_or(ChatError::StatusFormat);
        }
        "SARAN" => {
            // Everything after "#SARAN#", as typed (it may contain '#').
            let rest = t.splitn(3, '#').nth(2).unwrap_or("").trim();
            return if rest.is_empty() {
                Err(ChatError::FeedbackFormat)
            } else {
                Ok(Command::Feedback(rest.to_owned()))
            };
        }
        "TUNGGU" => {
            return match parse(&format!(
                "#{}",
                parts.get(1..).unwrap_or_default().join("#")
            )) {
                Ok(Command::Book {
                    name,
                    birth,
                    arrival,
                    session,
                    replacement,
                    electronic,
                }) => Ok(Command::Wait {
                    name,
                    birth,
                    arrival,
                    session,
                    replacement,
                    electronic,
                }),
                Err(e) => Err(e),
                Ok(_) => Err(ChatError::BookFormat),
            };
        }
        _ => {}
    }
    let (name, birth, arrival, extra) = match parts.as_slice() {
        [name, birth, arrival, extra @ ..] if !name.is_empty() && extra.len() <= 3 => {
            (*name, *birth, *arrival, extra)
        }
        _ => return Err(ChatError::BookFormat),
    };
    let birth = parse_ddmmyyyy(birth).ok_or(ChatError::BirthDate)?;
    let arrival = parse_ddmmyyyy(arrival).ok_or(ChatError::ArrivalDate)?;
    // After the dates, in any order: the session, the kind of application and the passport.
    let (mut session, mut replacement, mut electronic) = (None, false, false);
    for word in extra
        .iter()
        .map(|s| s.to_uppercase().replace([' ', '-'], ""))
    {
        match word.as_str() {
            "PAGI" | "SIANG" if session.is_none() => session = Some(word),
            "PENGGANTIAN" => replacement = true,
            "ELEKTRONIK" | "EPASPOR" => electronic = true,
            "BARU" | "BIASA" => {}
            "HILANG" | "RUSAK" | "GANTINAMA" => return Err(ChatError::OfficeOnly),
            _ => return Err(ChatError::Session),
        }
    }
    Ok(Command::Book {
        name: name.to_owned(),
        birth,
        arrival,
        session,
        replacement,
        electronic,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn classic_formats() {
        assert_eq!(parse("#tgllayanan"), Ok(Command::Dates));
        assert_eq!(parse("  # TGLLAYANAN  "), Ok(Command::Dates));
        assert_eq!(
            parse("#Budi Santoso#25011987#01122026"),
            Ok(Command::Book {
                name: "Budi Santoso".into(),
                birth: d("1987-01-25"),
                arrival: d("2026-12-01"),
                session: None,
                replacement: false,
                electronic: false,
            })
        );
        assert_eq!(
            parse("# Budi # 25011987 # 01122026 # siang"),
            Ok(Command::Book {
                name: "Budi".into(),
                birth: d("1987-01-25"),
                arrival: d("2026-12-01"),
                session: Some("SIANG".into()),
                replacement: false,
                electronic: false,
            })
        );
        assert_eq!(parse("123456"), Ok(Command::Confirm("123456".into())));
        assert_eq!(parse(" 123 456 "), Ok(Command::Confirm("123456".into())));
        assert_eq!(
            parse("#batal#7K3M-9QX2-HT4R-D"),
            Ok(Command::Cancel("7K3M-9QX2-HT4R-D".into()))
        );
        assert_eq!(parse("#STATUS # abc"), Ok(Command::Status("abc".into())));
        assert_eq!(
            parse("#saran#Bagus #sekali"),
            Ok(Command::Feedback("Bagus #sekali".into()))
        );
        assert_eq!(parse("menu"), Ok(Command::Menu));
        assert_eq!(
            parse("#tunggu# Budi Santoso #25011987#01122026#siang"),
            Ok(Command::Wait {
                name: "Budi Santoso".into(),
                birth: d("1987-01-25"),
                arrival: d("2026-12-01"),
                session: Some("SIANG".into()),
                replacement: false,
                electronic: false,
            })
        );
        assert_eq!(parse("#TUNGGU#Budi"), Err(ChatError::BookFormat));
        assert_eq!(
            parse("#ya# 7k3m-9qx2-ht4r-d"),
            Ok(Command::Reconfirm("7k3m-9qx2-ht4r-d".into()))
        );
        assert_eq!(parse("#YA"), Err(ChatError::ReconfirmFormat));
        assert_eq!(parse(" #cek "), Ok(Command::Mine));
        assert_eq!(
            parse("#Budi#25011987#01122026#penggantian#siang"),
            Ok(Command::Book {
                name: "Budi".into(),
                birth: d("1987-01-25"),
                arrival: d("2026-12-01"),
                session: Some("SIANG".into()),
                replacement: true,
                electronic: false,
            })
        );
        assert_eq!(
            parse("#Budi#25011987#01122026#PENGGANTIAN"),
            Ok(Command::Book {
                name: "Budi".into(),
                birth: d("1987-01-25"),
                arrival: d("2026-12-01"),
                session: None,
                replacement: true,
                electronic: false,
            })
        );
        assert_eq!(
            parse("#Budi#25011987#01122026#SORE"),
            Err(ChatError::Session)
        );
        assert_eq!(
            parse("#Budi#25011987#01122026#PAGI#PENGGANTIAN#ELEKTRONIK#LAGI"),
            Err(ChatError::BookFormat)
        );
        assert_eq!(
            parse("#Budi#25011987#01122026#elektronik#PENGGANTIAN"),
            Ok(Command::Book {
                name: "Budi".into(),
                birth: d("1987-01-25"),
                arrival: d("2026-12-01"),
                session: None,
                replacement: true,
                electronic: true,
            })
        );
        for kind in ["HILANG", "rusak", "ganti nama"] {
            assert_eq!(
                parse(&format!("#Budi#25011987#01122026#{kind}")),
                Err(ChatError::OfficeOnly)
            );
        }
        assert_eq!(
            parse("#ubah# 7K3M-9QX2-HT4R-D # 03122026"),
            Ok(Command::Reschedule {
                code: "7K3M-9QX2-HT4R-D".into(),
                date: d("2026-12-03"),
                session: None
            })
        );
        assert_eq!(
            parse("#UBAH#7K3M-9QX2-HT4R-D#03.12.2026#siang"),
            Ok(Command::Reschedule {
                code: "7K3M-9QX2-HT4R-D".into(),
                date: d("2026-12-03"),
                session: Some("SIANG".into())
            })
        );
        assert_eq!(
            parse("#UBAH#7K3M-9QX2-HT4R-D"),
            Err(ChatError::RescheduleFormat)
        );
        assert_eq!(
            parse("#UBAH#7K3M-9QX2-HT4R-D#31022026"),
            Err(ChatError::RescheduleDate)
        );
        assert_eq!(
            parse("#UBAH#7K3M-9QX2-HT4R-D#03122026#SORE"),
            Err(ChatError::RescheduleSession)
        );
        assert_eq!(parse("halo, mau tanya"), Ok(Command::Menu));
    }

    #[test]
    fn malformed_commands_say_what_is_wrong() {
        assert_eq!(parse("#Budi#25011987"), Err(ChatError::BookFormat));
        assert_eq!(parse("#Budi#31021987#01122026"), Err(ChatError::BirthDate));
        assert_eq!(parse("#Budi#25011987#1122026"), Err(ChatError::ArrivalDate));
        assert_eq!(
            parse("#Budi#25011987#01122026#MALAM"),
            Err(ChatError::Session)
        );
        assert_eq!(parse("#BATAL"), Err(ChatError::CancelFormat));
        assert_eq!(parse("#STATUS#"), Err(ChatError::StatusFormat));
        assert_eq!(parse("#SARAN#"), Err(ChatError::FeedbackFormat));
    }

    proptest::proptest! {
        // Whatever an applicant types (any Unicode, any length), it parses or is answered
        // with a format: never a panic.
        #[test]
        fn any_text_parses_or_is_refused(s in "\\PC{0,400}") {
            let _ = parse(&s);
        }

        #[test]
        fn hash_commands_with_any_fields_parse_or_are_refused(
            fields in proptest::collection::vec("[^#]{0,40}", 0..8)
        ) {
            let _ = parse(&format!("#{}", fields.join("#")));
        }

        #[test]
        fn any_date_text_is_a_date_or_not(s in "\\PC{0,16}") {
            let _ = parse_ddmmyyyy(&s);
        }
    }
}
