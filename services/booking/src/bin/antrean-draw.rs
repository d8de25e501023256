//! `antrean-draw verify <file or URL>`: recomputes a release draw's order from what was
//! published at `GET /api/v1/draws/{office_code}/{date}`, as anyone outside can.
//!
//! It checks that the seed is the one committed to before the window opened (its SHA-256),
//! that the entry list is the one frozen at the close (its SHA-256), that the beacon's
//! randomness is the beacon's own for the round named in advance (when the beacon can be
//! reached), and that ordering the entries by HMAC-SHA256(seed || randomness, entry id)
//! gives exactly the published positions. Exit status 0 when everything matches.
use serde_json::Value;
use std::process::ExitCode;

fn usage() -> ExitCode {
    eprintln!(
        "usage: antrean-draw verify <draw.json | https://.../api/v1/draws/OFFICE/YYYY-MM-DD>"
    );
    ExitCode::from(2)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [verb, source] = args.as_slice() else {
        return usage();
    };
    if verb != "verify" {
        return usage();
    }
    let text = if source.starts_with("http://") || source.starts_with("https://") {
        match fetch(source).await {
            Ok(t) => t,
            Err(e) => {
                eprintln!("could not read {source}: {e}");
                return ExitCode::from(2);
            }
        }
    } else {
        match std::fs::read_to_string(source) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("could not read {source}: {e}");
                return ExitCode::from(2);
            }
        }
    };
    let draw: Value = match serde_json::from_str(&text) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("not a draw publication: {e}");
            return ExitCode::from(2);
        }
    };
    let beacon = beacon_value(&draw).await;
    match verify(&draw, beacon.as_deref()) {
        Ok(summary) => {
            println!("OK: {summary}");
            ExitCode::SUCCESS
        }
        Err(problem) => {
            println!("MISMATCH: {problem}");
            ExitCode::FAILURE
        }
    }
}

async fn fetch(url: &str) -> Result<String, reqwest::Error> {
    reqwest::get(url).await?.error_for_status()?.text().await
}

/// The beacon's own randomness for the published round, when the beacon answers.
async fn beacon_value(draw: &Value) -> Option<String> {
    let url = draw
        .pointer("/beacon/url")
        .and_then(serde_json::Value::as_str)?;
    let round = draw
        .pointer("/beacon/round")
        .and_then(serde_json::Value::as_u64)?;
    let text = fetch(&format!("{}/public/{round}", url.trim_end_matches('/')))
        .await
        .ok()?;
    let v: Value = serde_json::from_str(&text).ok()?;
    v.pointer("/randomness")
        .and_then(serde_json::Value::as_str)
        .map(str::to_owned)
}

/// Checks a publication; `beacon` is the beacon's own value of the round, if reached.
fn verify(draw: &Value, beacon: Option<&str>) -> Result<String, String> {
    let field = |k: &str| {
        draw[k]
            .as_str()
            .ok_or_else(|| format!("`{k}` is missing: is the draw done?"))
    };
    if draw["state"] != "DONE" {
        return Err(format!("the draw is {}, not DONE", draw["state"]));
    }
    let seed = hex::decode(field("seed")?).map_err(|_| "`seed` is not hex".to_owned())?;
    if antrean_platform::draw::seed_sha256(&seed) != field("seed_sha256")? {
        return Err("the seed does not hash to the published seed_sha256".into());
    }
    let randomness = draw
        .pointer("/beacon/randomness")
        .and_then(serde_json::Value::as_str)
        .ok_or("the beacon's randomness is missing")?;
    match beacon {
        Some(b) if b != randomness => {
            return Err(format!(
                "the beacon's round {} is {b}, the draw used {randomness}",
                draw.pointer("/beacon/round")
                    .unwrap_or(&serde_json::Value::Null)
            ));
        }
        Some(_) => {}
        None => eprintln!("note: the beacon could not be reached; its value was not checked"),
    }
    let entries = draw
        .pointer("/entries")
        .and_then(serde_json::Value::as_array)
        .ok_or("`entries` is missing")?;
    let ids: Vec<String> = entries
        .iter()
        .map(|e| {
            e.pointer("/entry_id")
                .and_then(serde_json::Value::as_str)
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    if antrean_platform::draw::entries_sha256(&ids) != field("entries_sha256")? {
        return Err("the entries do not hash to the published entries_sha256".into());
    }
    let mut published: Vec<(u64, &str)> = entries
        .iter()
        .zip(&ids)
        .map(|(e, id)| {
            (
                e.pointer("/position")
                    .and_then(serde_json::Value::as_u64)
                    .unwrap_or(0),
                id.as_str(),
            )
        })
        .collect();
    published.sort_unstable();
    let order = antrean_platform::draw::order(&seed, randomness.as_bytes(), &ids);
    for (i, ((position, id), expected)) in published.iter().zip(&order).enumerate() {
        if *position != i as u64 + 1 || id != expected {
            return Err(format!(
                "position {}: published {id}, recomputed {expected}",
                i + 1
            ));
        }
    }
    let won = entries.iter().filter(|e| e["outcome"] == "WON").count();
    Ok(format!(
        "{} {}: {} entries in the published order ({} won)",
        draw.pointer("/office_code")
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default(),
        draw.pointer("/date")
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default(),
        ids.len(),
        won
    ))
}
