//! Production mode against the real binaries: with `ANTREAN_ENV=production` each service
//! refuses to start on development keys, placeholders, the sandbox or plaintext gRPC, naming
//! every such setting; with real values and TLS it starts.
use antrean_tests::cluster::{Cluster, binary};
use std::time::Duration;
use tokio::process::Command;

/// Runs `antrean-<name>` with `env` and answers its exit success and what it wrote.
async fn run(name: &str, env: &[(&str, &str)]) -> (bool, String) {
    let out = tokio::time::timeout(
        Duration::from_secs(30),
        Command::new(binary(&format!("antrean-{name}")))
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(env.iter().copied())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .unwrap_or_else(|_| panic!("antrean-{name} did not stop by itself"))
    .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[tokio::test]
async fn production_mode_refuses_development_values_naming_each_setting() {
    let placeholder = [
        ("ANTREAN_ENV", "production"),
        ("PII_ENCRYPTION_KEY", "replace-me"),
        ("PII_INDEX_KEY", "replace-me"),
        ("STAFF_TOKEN_KEY", "replace-me"),
        ("WHATSAPP_APP_SECRET", "replace-me"),
        ("WHATSAPP_VERIFY_TOKEN", "replace-me"),
    ];
    let expected: [(&str, &[&str]); 5] = [
        (
            "identity",
            &[
                "PII_ENCRYPTION_KEY",
                "PII_INDEX_KEY",
                "STAFF_TOKEN_KEY",
                "TLS_CA_FILE",
            ],
        ),
        (
            "quota",
            &["STAFF_TOKEN_KEY", "TLS_CERT_FILE", "TLS_KEY_FILE"],
        ),
        (
            "booking",
            &[
                "PII_ENCRYPTION_KEY",
                "STAFF_TOKEN_KEY",
                "DRAW_BEACON_URL",
                "TLS_CA_FILE",
            ],
        ),
        (
            "notification",
            &["PII_INDEX_KEY", "WHATSAPP_ACCESS_TOKEN", "TLS_CA_FILE"],
        ),
        (
            "gateway",
            &[
                "WHATSAPP_APP_SECRET",
                "WHATSAPP_VERIFY_TOKEN",
                "WHATSAPP_SANDBOX",
                "TLS_KEY_FILE",
            ],
        ),
    ];
    for (name, settings) in expected {
        // The placeholders of the old production overlay, and the built-in development keys.
        for env in [&placeholder[..], &placeholder[..1]] {
            let (ok, out) = run(name, env).await;
            assert!(!ok, "antrean-{name} started in production mode: {out}");
            assert!(
                out.contains("ANTREAN_ENV=production refuses"),
                "{name}: {out}"
            );
            for s in settings {
                if env.len() == 1 && *s == "WHATSAPP_ACCESS_TOKEN" {
                    continue;
                }
                assert!(out.contains(s), "antrean-{name} did not name {s}: {out}");
            }
        }
    }

    // An unknown mode is an error too, not development.
    let (ok, out) = run("quota", &[("ANTREAN_ENV", "prod")]).await;
    assert!(!ok && out.contains("ANTREAN_ENV"), "{out}");
}

#[tokio::test]
async fn production_mode_starts_with_real_keys_and_tls() {
    let mut cluster = Cluster::of(&["quota"], true);
    cluster
        .env
        .insert("ANTREAN_ENV".into(), "production".into());
    cluster.env.insert(
        "STAFF_TOKEN_KEY".into(),
        "5f2b8c1d9e7a4b3c6d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e".into(),
    );
    // Starts and answers health on its probe port (`start` waits for SERVING).
    cluster.start_all().await;
    cluster.stop(0).await;
}
