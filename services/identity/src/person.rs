//! Names and birth dates as applicants type them.
use chrono::NaiveDate;

/// Trims and collapses spaces; letters (any script), spaces and `.'-,` only, 2-100 characters.
pub fn clean_name(input: &str) -> Result<String, &'static str> {
    let name = input.split_whitespace().collect::<Vec<_>>().join(" ");
    let len = name.chars().count();
    if len < 2 {
        return Err("nama wajib diisi (paling sedikit 2 huruf)");
    }
    if len > 100 {
        return Err("nama paling panjang 100 karakter");
    }
    if !name
        .chars()
        .all(|c| c.is_alphabetic() || matches!(c, ' ' | '.' | '\'' | '-' | ','))
    {
        return Err("nama hanya boleh berisi huruf, spasi, titik, koma, tanda hubung dan apostrof");
    }
    if !name.chars().any(char::is_alphabetic) {
        return Err("nama harus berisi huruf");
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
pub fn check_birth_date(input: &str, today: NaiveDate) -> Result<NaiveDate, &'static str> {
    let d = antrean_platform::domain::parse_date(input)
        .ok_or("tanggal lahir harus tanggal yang valid (YYYY-MM-DD)")?;
    if d > today {
        return Err("tanggal lahir tidak boleh di masa depan");
    }
    if d < NaiveDate::from_ymd_opt(1900, 1, 1).expect("valid") {
        return Err("tanggal lahir terlalu lampau");
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
}
