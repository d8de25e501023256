//! The dashboards and the alert rules against a running system: the five services as real
//! processes (mutual TLS, as in production) get a WhatsApp conversation, a quality update, an
//! availability read and a booking; then every metric named by a Grafana dashboard's query
//! (k8s/components/monitoring/dashboards) or by an alert or recording rule
//! (deploy/prometheus/antrean.rules.yaml) must be among the series the services' `/metrics`
//! answer, with the labels its selectors match on; and a selector on a method, a route, a
//! histogram bucket, a channel, a dependency or a pool state must match a series the
//! services really export. A renamed metric or
//! label, or a typo in a query, fails here, not on an operator's screen.
use antrean_proto::v1 as pb;
use antrean_proto::v1::booking_service_client::BookingServiceClient;
use antrean_proto::v1::quota_service_client::QuotaServiceClient;
use antrean_tests::cluster::{Cluster, first_morning_in_bogor};
use antrean_tests::{BOGOR_NUMBER, applicant, create, nik};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

/// Series Prometheus itself makes, not the services.
const FROM_PROMETHEUS: &[&str] = &["up"];

/// PromQL's functions, aggregations and keywords: every other word of a query outside
/// strings, label matchers and ranges is a metric.
const PROMQL_WORDS: &[&str] = &[
    "sum",
    "min",
    "max",
    "avg",
    "count",
    "topk",
    "bottomk",
    "rate",
    "increase",
    "irate",
    "histogram_quantile",
    "time",
    "and",
    "or",
    "unless",
    "bool",
    "offset",
    "label_values",
    "abs",
    "clamp_min",
    "clamp_max",
    "absent",
    "vector",
    "scalar",
    "group_left",
    "group_right",
];
/// Words followed by a list of label names.
const LABEL_LISTS: &[&str] = &[
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The metric names a PromQL expression (or a Grafana `label_values(metric, label)`) reads.
fn metrics_of(expr: &str) -> BTreeSet<String> {
    // Strings, label matchers and ranges go first: what is left is words and operators.
    let mut plain = String::new();
    let (mut quote, mut depth) = (false, 0usize);
    for c in expr.chars() {
        match c {
            '"' => quote = !quote,
            _ if quote => {}
            '{' | '[' => depth += 1,
            '}' | ']' => depth = depth.saturating_sub(1),
            _ if depth > 0 => {}
            _ => plain.push(c),
        }
    }
    let mut words = Vec::new();
    let mut word = String::new();
    for c in plain.chars().chain([' ']) {
        if c.is_ascii_alphanumeric() || c == '_' || c == ':' || c == '$' || c == '.' {
            word.push(c);
        } else {
            if !word.is_empty() {
                words.push(std::mem::take(&mut word));
            }
            if c == '(' || c == ')' || c == ',' {
                words.push(c.to_string());
            }
        }
    }
    let mut out = BTreeSet::new();
    let mut i = 0;
    while i < words.len() {
        let w = &words[i];
        if LABEL_LISTS.contains(&w.as_str()) && words.get(i + 1).is_some_and(|n| n == "(") {
            // Skip `by (a, b)`.
            while i < words.len() && words[i] != ")" {
                i += 1;
            }
        } else if w == "label_values" {
            // label_values(metric, label): the metric only.
            if let Some(m) = words.get(i + 2) {
                out.insert(m.clone());
            }
            i += 5;
            continue;
        } else if !(PROMQL_WORDS.contains(&w.as_str())
            || LABEL_LISTS.contains(&w.as_str())
            || w.starts_with(|c: char| c.is_ascii_digit() || c == '$' || c == '.')
            || w == "("
            || w == ")"
            || w == ",")
        {
            out.insert(w.clone());
        }
        i += 1;
    }
    out
}

/// Every query of the dashboards, with the dashboard it is in.
fn dashboard_queries() -> Vec<(String, String)> {
    let dir = root().join("k8s/components/monitoring/dashboards");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let d: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        for p in d["panels"].as_array().unwrap() {
            for t in p["targets"].as_array().into_iter().flatten() {
                out.push((name.clone(), t["expr"].as_str().unwrap().to_owned()));
            }
        }
        for v in d["templating"]["list"].as_array().unwrap() {
            if let Some(q) = v["query"]["query"].as_str() {
                out.push((name.clone(), q.to_owned()));
            }
        }
    }
    assert!(out.len() > 40, "the dashboards hold {} queries", out.len());
    out
}

/// The rule file's expressions and the names it records. The file is written by
/// deploy/prometheus/rules.py: an `expr:` holds its expression on the line or, after `|-`,
/// on the more indented lines below it.
fn rules() -> (Vec<String>, BTreeSet<String>) {
    let text =
        std::fs::read_to_string(root().join("deploy/prometheus/antrean.rules.yaml")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let (mut exprs, mut records) = (Vec::new(), BTreeSet::new());
    for (i, line) in lines.iter().enumerate() {
        let t = line.trim_start();
        if let Some(r) = t.strip_prefix("- record: ") {
            records.insert(r.trim().to_owned());
        }
        let Some(e) = t.strip_prefix("expr: ") else {
            continue;
        };
        if e.trim() != "|-" {
            exprs.push(e.to_owned());
            continue;
        }
        let indent = line.len() - t.len();
        let body: Vec<&str> = lines[i + 1..]
            .iter()
            .take_while(|l| l.len() - l.trim_start().len() > indent)
            .copied()
            .collect();
        exprs.push(body.join("\n"));
    }
    assert!(
        exprs.len() > 50,
        "the rule file holds {} expressions",
        exprs.len()
    );
    (exprs, records)
}

/// The series names a `/metrics` answer holds.
fn exported(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| l.split(['{', ' ']).next())
        .map(str::to_owned)
        .collect()
}

/// Every series of a `/metrics` answer: its name and labels.
fn series_of(text: &str) -> Vec<(String, Vec<(String, String)>)> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let name = l.split(['{', ' ']).next().unwrap_or_default().to_owned();
            let labels = l
                .split_once('{')
                .and_then(|(_, rest)| rest.rsplit_once('}'))
                .map(|(inner, _)| {
                    matchers(inner)
                        .into_iter()
                        .map(|(k, _, v)| (k, v))
                        .collect()
                })
                .unwrap_or_default();
            (name, labels)
        })
        .collect()
}

/// A label matcher: name, operator (`=`, `!=`, `=~`, `!~`) and value.
type Matcher = (String, String, String);

/// `name op "value"` pairs of a label list, split at commas outside quotes.
fn matchers(inner: &str) -> Vec<Matcher> {
    let mut parts = Vec::new();
    let (mut quote, mut part) = (false, String::new());
    for c in inner.chars() {
        match c {
            '"' => {
                quote = !quote;
                part.push(c);
            }
            ',' if !quote => parts.push(std::mem::take(&mut part)),
            _ => part.push(c),
        }
    }
    parts.push(part);
    parts
        .into_iter()
        .filter(|p| !p.trim().is_empty())
        .filter_map(|p| {
            let p = p.trim();
            let at = p.find(['=', '!'])?;
            let (name, rest) = p.split_at(at);
            let op: String = rest.chars().take_while(|c| "=!~".contains(*c)).collect();
            let value = rest[op.len()..].trim().trim_matches('"').to_owned();
            Some((name.trim().to_owned(), op, value))
        })
        .collect()
}

/// Every `metric{matchers}` of an expression.
fn selectors(expr: &str) -> Vec<(String, Vec<Matcher>)> {
    let mut out = Vec::new();
    let mut rest = expr;
    while let Some(open) = rest.find('{') {
        let name: String = rest[..open]
            .chars()
            .rev()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == ':')
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        let Some(close) = rest[open..].find('}') else {
            break;
        };
        if !name.is_empty() {
            out.push((name, matchers(&rest[open + 1..open + close])));
        }
        rest = &rest[open + close + 1..];
    }
    out
}

/// Labels Prometheus adds to every series it scrapes (deploy/prometheus/scrape.yaml).
const TARGET_LABELS: &[&str] = &["job", "instance", "namespace", "pod"];

/// Labels whose values are a fixed vocabulary every running system exports: a selector on
/// one of them must match a real series.
const VOCABULARY: &[&str] = &["method", "route", "le", "channel", "dependency", "state"];

/// What is wrong with a selector against the exported series: labels the metric never
/// has, or a method, route or bucket no series has.
fn selector_problems(
    name: &str,
    matchers: &[Matcher],
    series: &[(String, Vec<(String, String)>)],
) -> Vec<String> {
    let of_metric: Vec<&Vec<(String, String)>> = series
        .iter()
        .filter(|(n, _)| n == name)
        .map(|(_, l)| l)
        .collect();
    let mut problems = Vec::new();
    for (label, op, value) in matchers {
        if TARGET_LABELS.contains(&label.as_str()) {
            continue;
        }
        if !of_metric
            .iter()
            .any(|ls| ls.iter().any(|(k, _)| k == label))
        {
            problems.push(format!("{name}: no series has the label {label}"));
            continue;
        }
        if !VOCABULARY.contains(&label.as_str()) || value.contains('$') {
            continue;
        }
        let matches = |v: &str| match op.as_str() {
            "=" => v == value,
            // The regular expressions here are a prefix followed by `.*`.
            "=~" => value.strip_suffix(".*").is_some_and(|p| v.starts_with(p)) || v == value,
            _ => true,
        };
        if !of_metric
            .iter()
            .any(|ls| ls.iter().any(|(k, v)| k == label && matches(v)))
        {
            problems.push(format!("{name}: no series has {label}{op}\"{value}\""));
        }
    }
    problems
}

#[test]
fn metric_names_are_read_from_queries() {
    assert_eq!(
        metrics_of(
            r#"histogram_quantile(0.99, sum by (method, le) (rate(rpc_server_duration_seconds_bucket{job="$job",le="0.025"}[$__rate_interval])))"#
        ),
        BTreeSet::from(["rpc_server_duration_seconds_bucket".to_owned()])
    );
    assert_eq!(
        metrics_of(
            "max by (job, pool) (db_pool_connections{state=\"busy\"} / ignoring(state) db_pool_max_connections) >= 0.9"
        ),
        BTreeSet::from([
            "db_pool_connections".to_owned(),
            "db_pool_max_connections".to_owned()
        ])
    );
    assert_eq!(
        selectors(r#"sum(rate(x_total{method=~"a.B/.*", code!="OK"}[5m])) / y{le="0.5"}"#),
        vec![
            (
                "x_total".to_owned(),
                vec![
                    ("method".to_owned(), "=~".to_owned(), "a.B/.*".to_owned()),
                    ("code".to_owned(), "!=".to_owned(), "OK".to_owned())
                ]
            ),
            (
                "y".to_owned(),
                vec![("le".to_owned(), "=".to_owned(), "0.5".to_owned())]
            )
        ]
    );
    let exported = series_of("x_total{method=\"a.B/C\",code=\"OK\"} 3\n");
    assert!(
        selector_problems(
            "x_total",
            &selectors(r#"x_total{method=~"a.B/.*"}"#)[0].1,
            &exported
        )
        .is_empty()
    );
    assert_eq!(
        selector_problems(
            "x_total",
            &selectors(r#"x_total{method="/a.B/C",cod="OK"}"#)[0].1,
            &exported
        ),
        [
            "x_total: no series has method=\"/a.B/C\"",
            "x_total: no series has the label cod"
        ]
    );
    assert_eq!(
        metrics_of("label_values(quota_holds_total, office)"),
        BTreeSet::from(["quota_holds_total".to_owned()])
    );
    assert_eq!(
        metrics_of("slo:booking_bad:ratio_rate1h > 14.4 * 0.005 and up == 0"),
        BTreeSet::from(["slo:booking_bad:ratio_rate1h".to_owned(), "up".to_owned()])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_dashboard_and_rule_query_names_series_the_services_export() {
    let mut cluster = Cluster::of(
        &["identity", "quota", "notification", "booking", "gateway"],
        true,
    );
    cluster.expose_metrics();
    cluster.start_all().await;
    let gateway = format!("http://127.0.0.1:{}", cluster.service("gateway").port);
    let http = reqwest::Client::new();
    let post = |body: serde_json::Value| {
        let raw = serde_json::to_vec(&body).unwrap();
        let sig =
            antrean_gateway::signature::sign(antrean_gateway::DEV_APP_SECRET.as_bytes(), &raw);
        http.post(format!("{gateway}/webhooks/whatsapp"))
            .header("content-type", "application/json")
            .header("x-hub-signature-256", sig)
            .body(raw)
            .send()
    };

    // A WhatsApp conversation: webhook, inbox, the bot's reply, its delivery to the Cloud API
    // stand-in (the gateway's sandbox).
    let now = chrono::Utc::now().timestamp();
    let hello = antrean_gateway::webhook::text_webhook(
        BOGOR_NUMBER,
        "+62 811-0000-000",
        "6281234500001",
        "wamid.OBSERVE1",
        "MENU",
        now,
    );
    assert_eq!(post(hello).await.unwrap().status(), 200);
    // Meta flags a business number.
    let flagged = serde_json::json!({"object": "whatsapp_business_account", "entry": [{
        "id": "WABA", "changes": [{"field": "phone_number_quality_update", "value": {
            "display_phone_number": "+62 811-0000-000", "event": "FLAGGED",
            "current_limit": "TIER_1K"}}]}]});
    assert_eq!(post(flagged).await.unwrap().status(), 200);
    let r = http
        .get(format!("{gateway}/api/v1/offices/BOGOR/availability"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // A booking, held and confirmed, as the gateway makes it.
    let mut quota = QuotaServiceClient::new(cluster.channel_as("gateway", "quota"));
    let mut booking = BookingServiceClient::new(cluster.channel_as("gateway", "booking"));
    let date = first_morning_in_bogor(&mut quota).await;
    let birth = "1991-02-03";
    let created = booking
        .create_booking(create(
            "observe-1",
            "BOGOR",
            &date,
            pb::Session::Pagi,
            "081234500002",
            vec![applicant(&nik(birth, 7), "Pemohon Amati", birth)],
        ))
        .await
        .unwrap()
        .into_inner();
    booking
        .confirm_booking(pb::ConfirmBookingRequest {
            booking_id: created.booking.unwrap().booking_id,
            confirmation_code: created.confirmation_code,
        })
        .await
        .unwrap();

    let mut wanted: Vec<(String, String)> = dashboard_queries();
    let (exprs, records) = rules();
    wanted.extend(
        exprs
            .into_iter()
            .map(|e| ("antrean.rules.yaml".to_owned(), e)),
    );
    let names: Vec<(String, String)> = wanted
        .iter()
        .flat_map(|(file, e)| metrics_of(e).into_iter().map(move |m| (file.clone(), m)))
        .filter(|(_, m)| !records.contains(m) && !FROM_PROMETHEUS.contains(&m.as_str()))
        .collect();
    assert!(names.len() > 60);

    // Deliveries and the backlog gauges come a moment later: scrape until all are there.
    let mut missing = Vec::new();
    for _ in 0..60 {
        let mut texts = String::new();
        for s in &cluster.services {
            let text = http
                .get(cluster.metrics_url(s.name))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            texts.push_str(&text);
            texts.push('\n');
        }
        let names_exported = exported(&texts);
        let series = series_of(&texts);
        let mut found: BTreeSet<String> = names
            .iter()
            .filter(|(_, m)| !names_exported.contains(m))
            .map(|(f, m)| format!("{m} (in {f})"))
            .collect();
        for (file, expr) in &wanted {
            for (name, ms) in selectors(expr) {
                if records.contains(&name) || FROM_PROMETHEUS.contains(&name.as_str()) {
                    continue;
                }
                for p in selector_problems(&name, &ms, &series) {
                    found.insert(format!("{p} (in {file})"));
                }
            }
        }
        missing = found.into_iter().collect();
        if missing.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(
        missing.is_empty(),
        "queries name series no service exports:\n{}",
        missing.join("\n")
    );
    for i in 0..cluster.services.len() {
        cluster.stop(i).await;
    }
}
