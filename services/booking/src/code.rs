//! Booking codes and confirmation codes.
//!
//! A booking code is 60 random bits from the OS CSPRNG in Crockford base32 (12 symbols)
//! plus Crockford's mod-37 check symbol, shown as `7K3M-9QX2-HT4R-D`. Input is forgiving:
//! any case, hyphens and spaces ignored, I and L read as 1, O as 0. The check symbol catches
//! every single-symbol typo and most transpositions before a lookup is made.
use rand::Rng;
use rand::TryRngCore;
use rand::rngs::OsRng;

const SYMBOLS: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const CHECK_SYMBOLS: &[u8; 37] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ*~$=U";
const BODY: usize = 12;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BookingCode(String);

impl BookingCode {
    pub fn generate() -> Self {
        // Without the OS source, the thread's generator (seeded from it) serves.
        let value = OsRng.try_next_u64().unwrap_or_else(|_| rand::random()) >> 4;
        Self::from_value(value)
    }

    fn from_value(value: u64) -> Self {
        let mut s = String::with_capacity(BODY + 1);
        for i in (0..BODY).rev() {
            let symbol = SYMBOLS.get(((value >> (5 * i)) & 31) as usize);
            s.push(symbol.copied().unwrap_or(b'0') as char);
        }
        let check = CHECK_SYMBOLS.get((value % 37) as usize);
        s.push(check.copied().unwrap_or(b'0') as char);
        Self(s)
    }

    /// Parses what a person typed, or `None` when it is not a valid code.
    pub fn parse(input: &str) -> Option<Self> {
        let norm: String = input
            .chars()
            .filter(|c| !matches!(c, '-' | ' '))
            .map(|c| match c.to_ascii_uppercase() {
                'I' | 'L' => '1',
                'O' => '0',
                c => c,
            })
            .collect();
        // Bytes, not string slices: a multi-byte letter typed in a code is simply not a
        // symbol, never a cut through a character.
        let bytes = norm.as_bytes();
        if bytes.len() != BODY + 1 {
            return None;
        }
        let (body, check) = bytes.split_at(BODY);
        let mut value: u64 = 0;
        for &b in body {
            let d = SYMBOLS.iter().position(|&s| s == b)? as u64;
            value = (value << 5) | d;
        }
        if CHECK_SYMBOLS.get((value % 37) as usize) != check.first() {
            return None;
        }
        Some(Self(norm))
    }

    /// Stored form: 13 symbols, no hyphens.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Shown form: `XXXX-XXXX-XXXX-C`.
    pub fn display(&self) -> String {
        format!(
            "{}-{}-{}-{}",
            &self.0[0..4],
            &self.0[4..8],
            &self.0[8..12],
            &self.0[12..]
        )
    }
}

/// Six digits from the OS CSPRNG.
pub fn confirmation_code() -> String {
    format!("{:06}", rand::rng().random_range(0..1_000_000u32))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_codes_parse_in_every_written_form() {
        for _ in 0..1000 {
            let c = BookingCode::generate();
            assert_eq!(BookingCode::parse(c.as_str()), Some(c.clone()));
            assert_eq!(BookingCode::parse(&c.display()), Some(c.clone()));
            assert_eq!(
                BookingCode::parse(&c.display().to_lowercase()),
                Some(c.clone())
            );
        }
    }

    #[test]
    fn confusable_letters_are_read_as_digits() {
        let c = BookingCode::from_value(0x0001_0000_0000_0001);
        let typed = c.as_str().replace('1', "l").replace('0', "O");
        assert_eq!(BookingCode::parse(&typed), Some(c));
    }

    #[test]
    fn every_single_symbol_typo_is_caught() {
        let c = BookingCode::generate();
        for i in 0..BODY {
            for &s in SYMBOLS {
                let mut t = c.as_str().as_bytes().to_vec();
                if t[i] == s {
                    continue;
                }
                t[i] = s;
                assert_eq!(BookingCode::parse(std::str::from_utf8(&t).unwrap()), None);
            }
        }
        assert_eq!(BookingCode::parse("ABC"), None);
    }

    #[test]
    fn the_example_shown_to_applicants_is_a_valid_code() {
        assert!(BookingCode::parse("7K3M-9QX2-HT4R-D").is_some());
    }

    #[test]
    fn letters_of_several_bytes_are_not_codes() {
        assert_eq!(BookingCode::parse("AAAAAAAAAAA\u{e9}"), None);
        assert_eq!(BookingCode::parse("\u{e9}AAAAAAAAAAA"), None);
        assert_eq!(BookingCode::parse("7K3M-9QX2-HT4\u{1F600}"), None);
    }

    proptest::proptest! {
        #[test]
        fn any_input_parses_or_not_without_panic(input in "\\PC{0,40}") {
            if let Some(c) = BookingCode::parse(&input) {
                proptest::prop_assert_eq!(BookingCode::parse(&c.display()), Some(c));
            }
        }
    }

    #[test]
    fn confirmation_codes_are_six_digits() {
        let c = confirmation_code();
        assert_eq!(c.len(), 6);
        assert!(c.bytes().all(|b| b.is_ascii_digit()));
    }
}
