//! NIK (Nomor Induk Kependudukan), the 16-digit national ID number.
//!
//! Digits 1-2: province (11-94); 3-4 regency/city; 5-6 district; 7-12 birth date as DDMMYY,
//! with 40 added to the day for women; 13-16 a serial number (never 0000).
use chrono::{Datelike, NaiveDate};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nik(String);

/// Why a NIK was refused, in Bahasa Indonesia.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NikError {
    Length,
    Province,
    BirthDate,
    BirthDateMismatch,
    Serial,
}

impl NikError {
    pub fn message(self) -> &'static str {
        match self {
            NikError::Length => "NIK harus 16 digit angka",
            NikError::Province => "kode provinsi NIK (2 digit pertama) tidak valid",
            NikError::BirthDate => "digit 7-12 NIK bukan tanggal lahir yang valid",
            NikError::BirthDateMismatch => "tanggal lahir tidak sesuai dengan NIK",
            NikError::Serial => "nomor urut NIK (4 digit terakhir) tidak valid",
        }
    }
}

impl NikError {
    pub fn message_en(self) -> &'static str {
        match self {
            NikError::Length => "a NIK has 16 digits",
            NikError::Province => "the province code (first 2 digits) is not valid",
            NikError::BirthDate => "digits 7-12 are not a valid birth date",
            NikError::BirthDateMismatch => "the birth date does not match the NIK",
            NikError::Serial => "the serial number (last 4 digits) is not valid",
        }
    }
}

impl Nik {
    /// Checks the NIK's form and that it encodes `birth_date` (spaces and dots are ignored).
    pub fn parse(input: &str, birth_date: NaiveDate) -> Result<Self, NikError> {
        let digits: String = input
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '.')
            .collect();
        if digits.len() != 16 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(NikError::Length);
        }
        let n = |r: std::ops::Range<usize>| {
            digits
                .get(r)
                .and_then(|d| d.parse::<u32>().ok())
                .unwrap_or(0)
        };
        if !(11..=94).contains(&n(0..2)) {
            return Err(NikError::Province);
        }
        let mut day = n(6..8);
        if day > 40 {
            day -= 40;
        }
        let (month, yy) = (n(8..10), n(10..12));
        if !(1..=31).contains(&day) || !(1..=12).contains(&month) {
            return Err(NikError::BirthDate);
        }
        if day != birth_date.day()
            || month != birth_date.month()
            || yy != (birth_date.year() % 100) as u32
        {
            return Err(NikError::BirthDateMismatch);
        }
        if n(12..16) == 0 {
            return Err(NikError::Serial);
        }
        Ok(Nik(digits))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Province and regency only: `3201************`.
    pub fn masked(&self) -> String {
        format!("{}************", &self.0[..4])
    }

    /// Women's NIKs add 40 to the birth day.
    pub fn is_female(&self) -> bool {
        self.0
            .get(6..8)
            .and_then(|d| d.parse::<u32>().ok())
            .is_some_and(|day| day > 40)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn nik_validation_table() {
        let cases: &[(&str, &str, Result<(), NikError>)] = &[
            ("3201012501870001", "1987-01-25", Ok(())),
            // Women: day + 40.
            ("3201016501870002", "1987-01-25", Ok(())),
            ("3201 0165 0187 0002", "1987-01-25", Ok(())),
            ("9471010101000001", "2000-01-01", Ok(())),
            ("1101013112990001", "1999-12-31", Ok(())),
            ("320101250187000", "1987-01-25", Err(NikError::Length)),
            ("32010125018700011", "1987-01-25", Err(NikError::Length)),
            ("32010125O1870001", "1987-01-25", Err(NikError::Length)),
            ("1001012501870001", "1987-01-25", Err(NikError::Province)),
            ("9501012501870001", "1987-01-25", Err(NikError::Province)),
            ("3201013201870001", "1987-01-25", Err(NikError::BirthDate)),
            ("3201017201870001", "1987-01-25", Err(NikError::BirthDate)),
            ("3201012513870001", "1987-01-25", Err(NikError::BirthDate)),
            (
                "3201012601870001",
                "1987-01-25",
                Err(NikError::BirthDateMismatch),
            ),
            (
                "3201012502870001",
                "1987-01-25",
                Err(NikError::BirthDateMismatch),
            ),
            (
                "3201012501880001",
                "1987-01-25",
                Err(NikError::BirthDateMismatch),
            ),
            ("3201012501870000", "1987-01-25", Err(NikError::Serial)),
        ];
        for (nik, birth, want) in cases {
            let got = Nik::parse(nik, d(birth)).map(|_| ());
            assert_eq!(got, *want, "{nik} {birth}");
        }
    }

    #[test]
    fn masking_and_sex() {
        let n = Nik::parse("3201016501870002", d("1987-01-25")).unwrap();
        assert_eq!(n.masked(), "3201************");
        assert!(n.is_female());
    }

    proptest::proptest! {
        #[test]
        fn any_nik_text_is_a_nik_or_refused(s in "\\PC{0,40}", days in 0i64..40_000) {
            let birth = NaiveDate::from_ymd_opt(1930, 1, 1).unwrap() + chrono::Duration::days(days);
            let _ = Nik::parse(&s, birth);
        }

        #[test]
        fn any_sixteen_digits_are_a_nik_or_refused(s in "[0-9]{16}", days in 0i64..40_000) {
            let birth = NaiveDate::from_ymd_opt(1930, 1, 1).unwrap() + chrono::Duration::days(days);
            let _ = Nik::parse(&s, birth);
        }
    }
}
