//! Production mode: with `ANTREAN_ENV=production` a service refuses to start while any
//! setting still holds a development or placeholder value (keys, secrets, tokens), a
//! stand-in is on (the WhatsApp sandbox, the beacon stand-in), or TLS material is missing.
//! The error names every such setting at once, so one restart fixes them all.
use crate::tls::TlsArgs;
use secrecy::{ExposeSecret, SecretString};

/// What a service's settings fail in production mode; empty outside it.
#[derive(Debug, Default)]
pub struct Startup {
    production: bool,
    refusals: Vec<String>,
}

/// Values that only ever stand in for a real secret.
const PLACEHOLDERS: [&str; 9] = [
    "replace-me",
    "replaceme",
    "change-me",
    "changeme",
    "placeholder",
    "secret",
    "password",
    "todo",
    "xxx",
];

impl Startup {
    /// Reads `ANTREAN_ENV`: `production`, or `development` (the default when unset).
    pub fn from_env() -> anyhow::Result<Self> {
        match std::env::var("ANTREAN_ENV").as_deref() {
            Ok("production") => Ok(Self::production()),
            Ok("development") | Ok("") | Err(std::env::VarError::NotPresent) => Ok(Self::default()),
            Ok(other) => anyhow::bail!(
                "ANTREAN_ENV is {other:?}: it must be \"production\" or \"development\""
            ),
            Err(e) => anyhow::bail!("ANTREAN_ENV: {e}"),
        }
    }

    /// The checks of production mode, whatever the environment says.
    pub fn production() -> Self {
        Self {
            production: true,
            refusals: Vec::new(),
        }
    }

    pub fn is_production(&self) -> bool {
        self.production
    }

    /// A secret must be set, not a development default (`dev_defaults`) and not a placeholder.
    pub fn secret(&mut self, setting: &str, value: &SecretString, dev_defaults: &[&str]) {
        let v = value.expose_secret().trim();
        if v.is_empty() {
            self.refuse(setting, "is empty");
        } else if dev_defaults.contains(&v) {
            self.refuse(setting, "is the development default");
        } else if PLACEHOLDERS.contains(&v.to_ascii_lowercase().as_str()) {
            self.refuse(setting, "is a placeholder");
        }
    }

    /// Refuses `setting` when `bad`, saying `why`.
    pub fn refuse_if(&mut self, bad: bool, setting: &str, why: &str) {
        if bad {
            self.refuse(setting, why);
        }
    }

    /// Mutual TLS must be configured.
    pub fn tls(&mut self, tls: &TlsArgs) {
        for (setting, v) in [
            ("TLS_CA_FILE", &tls.ca_file),
            ("TLS_CERT_FILE", &tls.cert_file),
            ("TLS_KEY_FILE", &tls.key_file),
        ] {
            self.refuse_if(v.is_none(), setting, "is not set (gRPC must be mutual TLS)");
        }
    }

    fn refuse(&mut self, setting: &str, why: &str) {
        self.refusals.push(format!("{setting} {why}"));
    }

    /// What was refused (in production mode).
    pub fn refusals(&self) -> &[String] {
        if self.production { &self.refusals } else { &[] }
    }

    /// An error naming every refused setting (in production mode), else Ok.
    pub fn finish(self) -> anyhow::Result<()> {
        if self.production && !self.refusals.is_empty() {
            anyhow::bail!(
                "ANTREAN_ENV=production refuses to start: {}",
                self.refusals.join("; ")
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn development_defaults_placeholders_and_missing_tls_are_named() {
        let mut s = Startup::production();
        s.secret("A_KEY", &"replace-me".into(), &[]);
        s.secret("B_KEY", &"dev-key".into(), &["dev-key"]);
        s.secret("C_KEY", &"".into(), &[]);
        s.secret("GOOD_KEY", &"8f1c2d3e".into(), &["dev-key"]);
        s.tls(&TlsArgs::default());
        s.refuse_if(true, "WHATSAPP_SANDBOX", "is on");
        let e = s.finish().unwrap_err().to_string();
        for named in [
            "A_KEY is a placeholder",
            "B_KEY is the development default",
            "C_KEY is empty",
            "TLS_CA_FILE",
            "TLS_CERT_FILE",
            "TLS_KEY_FILE",
            "WHATSAPP_SANDBOX is on",
        ] {
            assert!(e.contains(named), "{e}");
        }
        assert!(!e.contains("GOOD_KEY"), "{e}");

        // Outside production mode nothing is refused.
        let mut dev = Startup::default();
        dev.secret("A_KEY", &"replace-me".into(), &[]);
        assert!(dev.refusals().is_empty());
        dev.finish().unwrap();
    }
}
