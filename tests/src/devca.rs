//! A development certificate authority and one certificate per process, for `make up` and
//! the tests (Kubernetes gets its certificates from cert-manager instead).
use anyhow::Context as _;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use std::path::Path;

/// The identities that get a certificate: the five services and the outside callers.
pub const NAMES: [&str; 7] = [
    "identity",
    "quota",
    "booking",
    "notification",
    "gateway",
    "channel",
    "operator",
];

/// Writes `ca.crt` (and `ca.key`) and `<name>.crt` + `<name>.key` for each of `names`, valid
/// for `localhost` and `127.0.0.1` for a year, into `dir`. Keys are readable by the owner only.
pub fn generate(dir: &Path, names: &[&str]) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let (ca_params, ca_key) = authority("antrean development CA")?;
    let ca = ca_params.self_signed(&ca_key)?;
    write(dir, "ca.crt", &ca.pem(), false)?;
    write(dir, "ca.key", &ca_key.serialize_pem(), true)?;
    let issuer = Issuer::new(ca_params, ca_key);
    for name in names {
        let (cert, key) = leaf(name, &issuer)?;
        write(dir, &format!("{name}.crt"), &cert, false)?;
        write(dir, &format!("{name}.key"), &key, true)?;
    }
    Ok(())
}

/// A new certificate and key for `name` from the CA in `dir` (its `ca.key`), replacing the
/// old ones in place: what cert-manager's renewal does to a mounted Secret.
pub fn renew(dir: &Path, name: &str) -> anyhow::Result<()> {
    let (params, _) = authority("antrean development CA")?;
    let key = KeyPair::from_pem(&std::fs::read_to_string(dir.join("ca.key"))?)?;
    let issuer = Issuer::new(params, key);
    let (cert, key) = leaf(name, &issuer)?;
    write(dir, &format!("{name}.key"), &key, true)?;
    write(dir, &format!("{name}.crt"), &cert, false)?;
    Ok(())
}

/// A CA of its own (another platform's): its certificates must be refused.
pub fn generate_foreign(dir: &Path, name: &str) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    let (params, key) = authority("a foreign CA")?;
    let ca = params.self_signed(&key)?;
    write(dir, "ca.crt", &ca.pem(), false)?;
    let issuer = Issuer::new(params, key);
    let (cert, key) = leaf(name, &issuer)?;
    write(dir, &format!("{name}.crt"), &cert, false)?;
    write(dir, &format!("{name}.key"), &key, true)?;
    Ok(())
}

fn validity(p: &mut CertificateParams) {
    use chrono::Datelike;
    let today = chrono::Utc::now().date_naive();
    let from = today - chrono::Days::new(1);
    let until = today + chrono::Days::new(365);
    let ymd = |d: chrono::NaiveDate| rcgen::date_time_ymd(d.year(), d.month() as u8, d.day() as u8);
    p.not_before = ymd(from);
    p.not_after = ymd(until);
}

fn authority(cn: &str) -> anyhow::Result<(CertificateParams, KeyPair)> {
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, cn);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    validity(&mut params);
    Ok((params, key))
}

fn leaf(name: &str, issuer: &Issuer<'_, KeyPair>) -> anyhow::Result<(String, String)> {
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])?;
    params.distinguished_name.push(DnType::CommonName, name);
    params
        .distinguished_name
        .push(DnType::OrganizationName, "antrean");
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    validity(&mut params);
    let cert = params.signed_by(&key, issuer)?;
    Ok((cert.pem(), key.serialize_pem()))
}

fn write(dir: &Path, name: &str, contents: &str, secret: bool) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let path = dir.join(name);
    let tmp = dir.join(format!(".{name}.tmp"));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(if secret { 0o600 } else { 0o644 })
        .open(&tmp)
        .with_context(|| format!("writing {}", tmp.display()))?;
    f.write_all(contents.as_bytes())?;
    f.sync_all()?;
    // A renewal replaces each file at once: a reader never sees half of one.
    std::fs::rename(&tmp, &path)?;
    Ok(())
}
