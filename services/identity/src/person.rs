//! Names and birth dates as applicants type them.
use chrono::NaiveDate;

/// Why a value was refused: (Bahasa Indonesia, English).
pub type Refusal = (&'static str, &'static str);

/// Trims and collapses spaces; letters (any script), spaces and `.'-,` only, 2-100 characters.
pub fn clean_name(input: &str) -> Result<String, Refusal> {
    let name = input.split_whitespace().collect::<Vec<_>>().join(" ");
    let len = name.chars().count();
    if len < 2 {
        return Err((
            "nama wajib diisi (paling sedikit 2 huruf)",
            "the name is required (at least 2 letters)",
        ));
    }
    if len > 100 {
        return Err((
            "nama paling panjang 100 karakter",
            "the name has at most 100 characters",
        ));
    }
    if !name
        .chars()
        .all(|c| c.is_alphabetic() || matches!(c, ' ' | '.' | '\'' | '-' | ','))
    {
        return Err((
            "nama hanya boleh berisi huruf, spasi, titik, koma, tanda hubung dan apostrof",
            "the name may contain letters, spaces, dots, commas, hyphens and apostrophes only",
        ));
    }
    if !name.chars().any(char::is_alphabetic) {
        return Err(("nama harus berisi huruf", "the name must contain letters"));
    }
    Ok(name)
}

/// The form used for matching: upper case, single spaces, no punctuation.
pub fn name_key(name: &str) -> String {
    name.chars()
        .filter(|c| c.is_alphabetic() || c.is_whitespace())
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_uppercase()
}

/// A birth date must be a real past date from 1900 on.
pub fn check_birth_date(input: &str, today: NaiveDate) -> Result<NaiveDate, Refusal> {
    let d = antrean_platform::domain::parse_date(input).ok_or((
        "tanggal lahir harus tanggal yang valid (YYYY-MM-DD)",
        "the birth date must be a valid date (YYYY-MM-DD)",
    ))?;
    if d > today {
        return Err((
            "tanggal lahir tidak boleh di masa depan",
            "the birth date cannot be in the future",
        ));
    }
    if d < NaiveDate::from_ymd_opt(1900, 1, 1).unwrap_or(NaiveDate::MIN) {
        return Err((
            "tanggal lahir terlalu lampau",
            "the birth date is too far in the past",
        ));
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(clean_name("  Budi   Santoso ").unwrap(), "Budi Santoso");
        assert_eq!(clean_name("Ni Luh Putu Ayu").unwrap(), "Ni Luh Putu Ayu");
        assert!(clean_name("B").is_err());
        assert!(clean_name("Budi123").is_err());
        assert_eq!(name_key("Budi  santoso."), "BUDI SANTOSO");
    }

    #[test]
    fn birth_dates() {
        let today: NaiveDate = "2026-11-30".parse().unwrap();
        assert!(check_birth_date("1987-01-25", today).is_ok());
        assert!(check_birth_date("2026-12-01", today).is_err());
        assert!(check_birth_date("1987-02-30", today).is_err());
        assert!(check_birth_date("1899-12-31", today).is_err());
    }

    proptest::proptest! {
        #[test]
        fn any_name_is_cleaned_or_refused(s in "\\PC{0,200}") {
            if let Ok(n) = clean_name(&s) {
                let _ = name_key(&n);
            }
        }

        #[test]
        fn any_birth_date_text_is_a_date_or_refused(s in "\\PC{0,20}") {
            let _ = check_birth_date(&s, NaiveDate::from_ymd_opt(2026, 12, 1).unwrap());
        }
    }
}
