//! `X-Hub-Signature-256`: `sha256=` + hex HMAC-SHA256 of the exact raw body, keyed with the
//! app secret. Checked before the body is parsed, in constant time.
use hmac::{Hmac, Mac};
use sha2::Sha256;

#[allow(clippy::expect_used, reason = "HMAC takes keys of any length")]
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// True when `header` is the right signature of `body`.
#[allow(clippy::expect_used, reason = "HMAC takes keys of any length")]
pub fn verify(secret: &[u8], body: &[u8], header: Option<&str>) -> bool {
    let Some(hex_sig) = header.and_then(|h| h.trim().strip_prefix("sha256=")) else {
        return false;
    };
    let Ok(sig) = hex::decode(hex_sig) else {
        return false;
    };
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("any key length");
    mac.update(body);
    // verify_slice compares in constant time.
    mac.verify_slice(&sig).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures() {
        let body = br#"{"object":"whatsapp_business_account"}"#;
        let good = sign(b"secret", body);
        assert!(verify(b"secret", body, Some(&good)));
        assert!(!verify(b"other", body, Some(&good)));
        assert!(!verify(b"secret", b"{}", Some(&good)));
        assert!(!verify(
            b"secret",
            body,
            Some(good.trim_start_matches("sha256="))
        ));
        assert!(!verify(b"secret", body, Some("sha256=zz")));
        assert!(!verify(b"secret", body, None));
    }
}
