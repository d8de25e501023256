//! What every page shares: escaping text into HTML and values into URLs. Pages, the console
//! and the dashboard take these from here, not from each other.

/// HTML-escapes text (element content and quoted attribute values alike).
pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// Percent-encodes a query value (every byte but the unreserved ones).
pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn escaped_text_opens_no_tag_and_closes_no_attribute(s in "\\PC{0,80}") {
            let e = esc(&s);
            proptest::prop_assert!(!e.contains('<') && !e.contains('>') && !e.contains('"') && !e.contains('\''));
        }

        #[test]
        fn encoded_values_are_unreserved_or_escapes(s in "\\PC{0,40}") {
            let e = urlencode(&s);
            proptest::prop_assert!(e.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.~%".contains(&b)));
        }
    }
}
