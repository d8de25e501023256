//! Personal data at rest: XChaCha20-Poly1305 with a random nonce per value, and HMAC-SHA256
//! "blind index" hashes so records can be found without decrypting anything.
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use secrecy::ExposeSecret;
use sha2::Sha256;

const NONCE_LEN: usize = 24;

/// Development keys: used only when the environment sets none, and logged as a warning.
pub const DEV_ENCRYPTION_KEY: &str =
    "6465762d6f6e6c792d656e6372797074696f6e2d6b65792d3030303030303030";
pub const DEV_INDEX_KEY: &str = "6465762d6f6e6c792d696e6465782d6b65792d30303030303030303030303030";

/// The two keys, from the environment; every service that stores personal data flattens
/// this into its configuration.
#[derive(Debug, Clone, clap::Args)]
pub struct PiiKeys {
    /// 32 bytes as 64 hex digits: encrypts NIK, phone and e-mail at rest.
    #[arg(long, env = "PII_ENCRYPTION_KEY", default_value = DEV_ENCRYPTION_KEY, hide_default_value = true)]
    pub pii_encryption_key: secrecy::SecretString,
    /// 32 bytes as 64 hex digits: keys the lookup hashes of NIK, phone and persons.
    #[arg(long, env = "PII_INDEX_KEY", default_value = DEV_INDEX_KEY, hide_default_value = true)]
    pub pii_index_key: secrecy::SecretString,
}

impl PiiKeys {
    /// Production mode: both keys real.
    pub fn check(&self, startup: &mut crate::production::Startup) {
        startup.secret(
            "PII_ENCRYPTION_KEY",
            &self.pii_encryption_key,
            &[DEV_ENCRYPTION_KEY],
        );
        startup.secret("PII_INDEX_KEY", &self.pii_index_key, &[DEV_INDEX_KEY]);
    }

    pub fn load(&self) -> anyhow::Result<Pii> {
        Pii::from_hex(&self.pii_encryption_key, &self.pii_index_key)
    }
}

#[derive(Clone)]
pub struct Pii {
    cipher: XChaCha20Poly1305,
    index_key: [u8; 32],
}

impl std::fmt::Debug for Pii {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pii(..)")
    }
}

fn key32(name: &str, hex_key: &str) -> anyhow::Result<[u8; 32]> {
    let bytes =
        hex::decode(hex_key.trim()).map_err(|_| anyhow::anyhow!("{name} must be 64 hex digits"))?;
    bytes
        .try_into()
        .map_err(|_| anyhow::anyhow!("{name} must be 32 bytes (64 hex digits)"))
}

impl Pii {
    pub fn new(encryption_key: [u8; 32], index_key: [u8; 32]) -> Self {
        Self {
            cipher: XChaCha20Poly1305::new(&encryption_key.into()),
            index_key,
        }
    }

    /// From the two keys as 64 hex digits each (`PII_ENCRYPTION_KEY`, `PII_INDEX_KEY`).
    pub fn from_hex(
        encryption_key: &secrecy::SecretString,
        index_key: &secrecy::SecretString,
    ) -> anyhow::Result<Self> {
        let enc = encryption_key.expose_secret();
        let idx = index_key.expose_secret();
        if enc == DEV_ENCRYPTION_KEY || idx == DEV_INDEX_KEY {
            tracing::warn!(
                "PII keys are the development defaults: set PII_ENCRYPTION_KEY and PII_INDEX_KEY in production"
            );
        }
        Ok(Self::new(
            key32("PII_ENCRYPTION_KEY", enc)?,
            key32("PII_INDEX_KEY", idx)?,
        ))
    }

    /// nonce || ciphertext.
    #[allow(
        clippy::expect_used,
        reason = "XChaCha20-Poly1305 fails only past 256 GiB of plaintext"
    )]
    pub fn encrypt(&self, plain: &str) -> Vec<u8> {
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let mut out = nonce.to_vec();
        out.extend(
            self.cipher
                .encrypt(&nonce, plain.as_bytes())
                .expect("encryption of a short value cannot fail"),
        );
        out
    }

    pub fn decrypt(&self, sealed: &[u8]) -> anyhow::Result<String> {
        if sealed.len() < NONCE_LEN {
            anyhow::bail!("sealed value too short");
        }
        let (nonce, ct) = sealed.split_at(NONCE_LEN);
        let plain = self
            .cipher
            .decrypt(XNonce::from_slice(nonce), ct)
            .map_err(|_| anyhow::anyhow!("cannot decrypt: wrong PII_ENCRYPTION_KEY?"))?;
        Ok(String::from_utf8(plain)?)
    }

    /// Keyed hash of `kind:value` (kinds keep equal values of different kinds apart).
    #[allow(clippy::expect_used, reason = "HMAC takes keys of any length")]
    pub fn blind(&self, kind: &str, value: &str) -> Vec<u8> {
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(&self.index_key).expect("any key length");
        mac.update(kind.as_bytes());
        mac.update(b":");
        mac.update(value.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_and_never_repeat_ciphertext() {
        let p = Pii::new([7; 32], [9; 32]);
        let a = p.encrypt("3201234567890001");
        let b = p.encrypt("3201234567890001");
        assert_ne!(a, b);
        assert_eq!(p.decrypt(&a).unwrap(), "3201234567890001");
        assert!(!a.windows(16).any(|w| w == b"3201234567890001"));
        assert!(Pii::new([8; 32], [9; 32]).decrypt(&a).is_err());
    }

    #[test]
    fn blind_indexes_depend_on_kind_and_key() {
        let p = Pii::new([7; 32], [9; 32]);
        assert_eq!(p.blind("phone", "+62812"), p.blind("phone", "+62812"));
        assert_ne!(p.blind("phone", "+62812"), p.blind("nik", "+62812"));
        assert_ne!(
            p.blind("phone", "+62812"),
            Pii::new([7; 32], [1; 32]).blind("phone", "+62812")
        );
    }
}
