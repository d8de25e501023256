//! `antrean-dev-ca DIR [--force]`: the development CA and certificates `make up` uses
//! (`DIR/ca.crt`, `DIR/<name>.crt` + `DIR/<name>.key`). Keeps existing ones unless they
//! expire within 30 days or `--force` is given.
fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dir = args
        .iter()
        .find(|a| !a.starts_with("--"))
        .map_or(".run/tls", String::as_str);
    let dir = std::path::Path::new(dir);
    let force = args.iter().any(|a| a == "--force");
    let complete = antrean_tests::devca::NAMES
        .iter()
        .all(|n| dir.join(format!("{n}.crt")).exists() && dir.join(format!("{n}.key")).exists())
        && dir.join("ca.crt").exists();
    let fresh = std::fs::metadata(dir.join("ca.crt"))
        .and_then(|m| m.modified())
        .is_ok_and(|t| t.elapsed().is_ok_and(|e| e.as_secs() < 335 * 86_400));
    if complete && fresh && !force {
        println!("certificates in {} are current", dir.display());
        return Ok(());
    }
    antrean_tests::devca::generate(dir, &antrean_tests::devca::NAMES)?;
    println!(
        "wrote a development CA and certificates for {} to {}",
        antrean_tests::devca::NAMES.join(", "),
        dir.display()
    );
    Ok(())
}
