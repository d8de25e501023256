//! `make chat`: chat with the bot in a terminal as a WhatsApp user.
//!
//! What you type goes to the gateway as a real signed Cloud API webhook from your number to
//! the office's number; the bot's replies are read back from the gateway's Cloud API sandbox.
//! After a menu list, typing a row number (1-9) chooses that row.
#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a developer's terminal tool over the local sandbox; a malformed answer may end it"
)]
use antrean_gateway::{DEV_APP_SECRET, signature, webhook};
use clap::Parser;
use serde_json::Value;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::AsyncBufReadExt;

#[derive(Debug, Parser)]
#[command(
    name = "antrean-chat",
    about = "Chat with an office's WhatsApp bot in the terminal"
)]
struct Args {
    /// Office code, e.g. BOGOR.
    #[arg(long, env = "OFFICE", default_value = "BOGOR")]
    office: String,
    /// Your phone number, any Indonesian form.
    #[arg(long, env = "PHONE", default_value = "081234567890")]
    phone: String,
    #[arg(long, env = "GATEWAY", default_value = "http://127.0.0.1:8080")]
    gateway: String,
    #[arg(long, env = "WHATSAPP_APP_SECRET", default_value = DEV_APP_SECRET, hide_default_value = true)]
    app_secret: String,
}

fn wa_id(phone: &str) -> String {
    let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
    match digits.strip_prefix('0') {
        Some(rest) => format!("62{rest}"),
        None => digits,
    }
}

fn show(body: &Value, rows: &Mutex<Vec<String>>) {
    if let Some(t) = body["text"]["body"].as_str() {
        println!("\n[bot] {}\n", t.replace('\n', "\n      "));
        return;
    }
    let i = &body["interactive"];
    println!(
        "\n[bot] {}",
        i["body"]["text"]
            .as_str()
            .unwrap_or_default()
            .replace('\n', "\n      ")
    );
    let mut ids = Vec::new();
    for s in i["action"]["sections"].as_array().into_iter().flatten() {
        for r in s["rows"].as_array().into_iter().flatten() {
            ids.push(r["id"].as_str().unwrap_or_default().to_owned());
            println!(
                "      {}. {} - {}",
                ids.len(),
                r["title"].as_str().unwrap_or_default(),
                r["description"].as_str().unwrap_or_default()
            );
        }
    }
    println!("      (ketik nomor pilihan)\n");
    *rows
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = ids;
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let http = reqwest::Client::new();
    let offices: Vec<Value> = http
        .get(format!("{}/api/v1/offices", args.gateway))
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("gateway not reachable ({e}); start it with `make up`"))?
        .json()
        .await?;
    let office = offices
        .iter()
        .find(|o| o["code"].as_str() == Some(&args.office.to_uppercase()))
        .ok_or_else(|| anyhow::anyhow!("no office {}", args.office))?;
    let pnid = office["whatsapp"]["phone_number_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let display = office["whatsapp"]["display_phone_number"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let me = wa_id(&args.phone);
    println!(
        "Chat dengan {} ({display}) sebagai +{me}. Ketik MENU untuk mulai, Ctrl-D untuk keluar.\n",
        office["name"].as_str().unwrap_or_default()
    );

    let sandbox = format!("{}/sandbox/whatsapp/messages", args.gateway);
    let seen: Vec<Value> = http.get(&sandbox).send().await?.json().await?;
    let mut after = seen
        .iter()
        .filter_map(|m| m["seq"].as_u64())
        .max()
        .unwrap_or(0);
    let rows = Arc::new(Mutex::new(Vec::<String>::new()));
    {
        let (http, sandbox, me, rows) = (http.clone(), sandbox.clone(), me.clone(), rows.clone());
        tokio::spawn(async move {
            loop {
                let url = format!("{sandbox}?to={me}&after={after}");
                if let Ok(r) = http.get(&url).send().await
                    && let Ok(list) = r.json::<Vec<Value>>().await
                {
                    for m in list {
                        after = after.max(m["seq"].as_u64().unwrap_or(0));
                        show(&m["body"], &rows);
                        print!("> ");
                        let _ = std::io::stdout().flush();
                    }
                }
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        });
    }

    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    print!("> ");
    std::io::stdout().flush()?;
    while let Some(line) = lines.next_line().await? {
        let text = line.trim();
        if text.is_empty() {
            continue;
        }
        let wamid = format!("wamid.CHAT{}", uuid::Uuid::new_v4().simple());
        let now = chrono::Utc::now().timestamp();
        let mut body = webhook::text_webhook(&pnid, &display, &me, &wamid, text, now);
        let row = text
            .parse::<usize>()
            .ok()
            .filter(|_| text.len() == 1)
            .and_then(|n| {
                rows.lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .get(n.wrapping_sub(1))
                    .cloned()
            });
        if let Some(id) = row {
            body["entry"][0]["changes"][0]["value"]["messages"][0] = serde_json::json!({
                "from": me, "id": wamid, "timestamp": now.to_string(), "type": "interactive",
                "interactive": {"type": "list_reply", "list_reply": {"id": id, "title": text}}});
        }
        let raw = serde_json::to_vec(&body)?;
        let status = http
            .post(format!("{}/webhooks/whatsapp", args.gateway))
            .header("content-type", "application/json")
            .header(
                "x-hub-signature-256",
                signature::sign(args.app_secret.as_bytes(), &raw),
            )
            .body(raw)
            .send()
            .await?
            .status();
        if !status.is_success() {
            println!("(gateway answered {status})");
        }
    }
    Ok(())
}
