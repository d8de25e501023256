//! Indonesian mobile numbers, normalised to E.164 (`+628...`).

/// Why a phone number was refused: (Bahasa Indonesia, English).
pub type PhoneError = (&'static str, &'static str);

/// Accepts `0812-3456-7890`, `+62 812 3456 7890`, `62812...`, `(0812) ...`.
pub fn normalize(input: &str) -> Result<String, PhoneError> {
    let raw: String = input
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')'))
        .collect();
    let digits = if let Some(rest) = raw.strip_prefix("+62") {
        rest.to_owned()
    } else if let Some(rest) = raw.strip_prefix("62") {
        rest.to_owned()
    } else if let Some(rest) = raw.strip_prefix('0') {
        rest.to_owned()
    } else {
        return Err((
            "nomor HP harus diawali 08, 628 atau +628",
            "the mobile number must start with 08, 628 or +628",
        ));
    };
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err((
            "nomor HP hanya boleh berisi angka",
            "the mobile number may contain digits only",
        ));
    }
    if !digits.starts_with('8') {
        return Err((
            "nomor HP harus nomor seluler (08...)",
            "must be a mobile number (08...)",
        ));
    }
    if !(9..=12).contains(&digits.len()) {
        return Err((
            "panjang nomor HP 10-13 digit (contoh 081234567890)",
            "a mobile number has 10-13 digits (e.g. 081234567890)",
        ));
    }
    Ok(format!("+62{digits}"))
}

/// `+62812****7890`; anything that is not an ASCII number of 10 or more characters is
/// `****` (nothing of it shown).
pub fn mask(e164: &str) -> String {
    let n = e164.len();
    match (e164.get(..6), e164.get(n.saturating_sub(4)..)) {
        (Some(head), Some(tail)) if n >= 10 && e164.is_ascii() => format!("{head}****{tail}"),
        _ => "****".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_indonesian_form_normalises_to_e164() {
        for input in [
            "081234567890",
            "+6281234567890",
            "6281234567890",
            "0812-3456-7890",
            "+62 812 3456 7890",
            "(0812) 3456 7890",
        ] {
            assert_eq!(normalize(input).unwrap(), "+6281234567890", "{input}");
        }
        assert_eq!(normalize("0811-1100-333").unwrap(), "+628111100333");
    }

    #[test]
    fn non_mobile_and_malformed_numbers_are_refused() {
        for input in [
            "0215551234",
            "+1415555",
            "08123",
            "0812345678901234",
            "08abc4567890",
            "",
        ] {
            assert!(normalize(input).is_err(), "{input}");
        }
    }

    #[test]
    fn masks_keep_only_the_ends() {
        assert_eq!(mask("+6281234567890"), "+62812****7890");
    }

    proptest::proptest! {
        #[test]
        fn any_phone_text_normalises_or_is_refused(s in "\\PC{0,40}") {
            if let Ok(e164) = normalize(&s) {
                proptest::prop_assert!(e164.starts_with("+62"));
                let _ = mask(&e164);
            }
        }

        #[test]
        fn masking_any_text_does_not_panic(s in "\\PC{0,40}") {
            let _ = mask(&s);
        }
    }
}
