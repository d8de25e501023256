//! `docs/performance-results.md` (tables, ratios, targets, memory, invariants) and the two
//! plots against concurrency, `docs/performance-throughput.svg` and `docs/performance-p99.svg`.
use crate::drive::Run;
use crate::memory::{CPU_NAMES, NAMES};
use std::fmt::Write;

fn rate(runs: &[Run], scenario: &str, c: usize) -> Option<f64> {
    find(runs, scenario, c).map(Run::rate)
}

fn find<'a>(runs: &'a [Run], scenario: &str, c: usize) -> Option<&'a Run> {
    runs.iter()
        .find(|r| r.scenario == scenario && r.concurrency == c)
}

fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    Some(a? / b?).filter(|r| r.is_finite())
}

fn fmt(v: Option<f64>, digits: usize) -> String {
    v.map_or("-".into(), |v| format!("{v:.digits$}"))
}

/// One target: what it asks, what the run measured, and whether it holds: at every
/// concurrency measured, or for a rate to sustain, at the best one.
struct Target {
    what: &'static str,
    measured: String,
    met: Option<bool>,
}

fn targets(runs: &[Run], cs: &[usize], idle: Option<&[(String, f64)]>) -> Vec<Target> {
    let per_c = |f: &dyn Fn(usize) -> Option<f64>, ok: &dyn Fn(f64) -> bool, digits: usize| {
        let vals: Vec<(usize, f64)> = cs.iter().filter_map(|&c| f(c).map(|v| (c, v))).collect();
        let measured = vals
            .iter()
            .map(|(c, v)| format!("{v:.digits$} (c={c})"))
            .collect::<Vec<_>>()
            .join(", ");
        let met = (!vals.is_empty()).then(|| vals.iter().all(|(_, v)| ok(*v)));
        (measured, met)
    };
    // A rate the system has to sustain is its capacity: the best of the loads measured (a
    // closed loop of few workers measures their round trips, not what the service takes).
    let peak = |f: &dyn Fn(usize) -> Option<f64>, ok: &dyn Fn(f64) -> bool| {
        let (measured, _) = per_c(f, &|_| true, 0);
        let best = cs
            .iter()
            .filter_map(|&c| f(c))
            .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))));
        (measured, best.map(ok))
    };
    let mut out = Vec::new();
    let mut add = |what, (measured, met): (String, Option<bool>)| {
        out.push(Target {
            what,
            measured,
            met,
        })
    };
    add(
        "grpc-hold at least 0.5x the raw Redis script",
        per_c(
            &|c| ratio(rate(runs, "grpc-hold", c), rate(runs, "redis-script", c)),
            &|v| v >= 0.5,
            2,
        ),
    );
    add(
        "grpc-hold at least 40x the PostgreSQL row lock",
        per_c(
            &|c| {
                ratio(
                    rate(runs, "grpc-hold", c),
                    rate(runs, "postgres-row-lock", c),
                )
            },
            &|v| v >= 40.0,
            1,
        ),
    );
    add(
        "grpc-hold p99 under 20 ms",
        per_c(
            &|c| find(runs, "grpc-hold", c).map(|r| r.p99),
            &|v| v < 20.0,
            2,
        ),
    );
    add(
        "whatsapp-intake at least 2,000 accepted/s (peak)",
        peak(&|c| rate(runs, "whatsapp-intake", c), &|v| v >= 2000.0),
    );
    let paced = runs.iter().find(|r| r.scenario == "whatsapp-intake-paced");
    add(
        "whatsapp-intake answer p99 under 50 ms at 2,000 webhooks/s offered",
        match paced {
            Some(r) => (
                format!("{:.2} at {}, {:.0} accepted/s", r.p99, r.load(), r.rate()),
                Some(r.p99 < 50.0 && r.offered.is_some_and(|o| o >= 2000.0) && r.errors.is_empty()),
            ),
            None => (String::new(), None),
        },
    );
    add(
        "whatsapp-intake answer p99 under 50 ms with every worker count (closed loop)",
        per_c(
            &|c| find(runs, "whatsapp-intake", c).map(|r| r.p99),
            &|v| v < 50.0,
            2,
        ),
    );
    let entries: Vec<&Run> = runs
        .iter()
        .filter(|r| matches!(r.scenario, "draw-entry-whatsapp" | "draw-entry-api"))
        .collect();
    add(
        "draw: every entrant's \"entered\" answer within 2 s at p99",
        if entries.is_empty() {
            (String::new(), None)
        } else {
            (
                entries
                    .iter()
                    .map(|r| format!("{} {:.0} ms at {}", r.scenario, r.p99, r.load()))
                    .collect::<Vec<_>>()
                    .join(", "),
                Some(
                    entries
                        .iter()
                        .all(|r| r.p99 < 2000.0 && r.errors.is_empty()),
                ),
            )
        },
    );
    let decided = runs.iter().find(|r| r.scenario == "draw-decided");
    add(
        "draw: decided and every outcome in the outbox within 10 s of the close",
        match decided {
            Some(r) => (
                format!("{:.1} s, {} seats admitted", r.max / 1000.0, r.admitted),
                Some(r.max < 10_000.0 && r.errors.is_empty()),
            ),
            None => (String::new(), None),
        },
    );
    add(
        "http-availability at least 30,000/s (peak)",
        peak(&|c| rate(runs, "http-availability", c), &|v| v >= 30_000.0),
    );
    if let Some(idle) = idle {
        let worst = idle.iter().map(|(_, mb)| *mb).fold(0.0, f64::max);
        add(
            "each service under 30 MB idle",
            (
                idle.iter()
                    .map(|(n, mb)| format!("{n} {mb:.1}"))
                    .collect::<Vec<_>>()
                    .join(", "),
                Some(worst < 30.0),
            ),
        );
    }
    add(
        "whole system under 300 MB during the flash crowd",
        per_c(
            &|c| {
                find(runs, "grpc-hold", c)
                    .and_then(|r| r.memory.as_ref())
                    .map(|m| m.together)
            },
            &|v| v < 300.0,
            1,
        ),
    );
    out
}

pub fn write(
    out: &str,
    repeat: usize,
    runs: &[Run],
    cs: &[usize],
    idle: Option<&[(String, f64)]>,
    after: Option<&[(String, f64)]>,
    problems: &[String],
) -> anyhow::Result<String> {
    let mut md = String::new();
    if repeat > 1 {
        let _ = writeln!(
            md,
            "The flash crowd, its baselines and the reads ran {repeat} times per load, interleaved; each of their rows is the run of median throughput (its latencies and CPU time), with the highest memory of the {repeat}.\n"
        );
    }
    let _ = writeln!(
        md,
        "| scenario | load | requests | throughput (/s) | p50 ms | p95 ms | p99 ms | max ms | admitted | refused | errors |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
    );
    for r in runs {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} | {} | {} | {} |",
            r.scenario,
            r.load(),
            r.done,
            r.rate(),
            r.p50,
            r.p95,
            r.p99,
            r.max,
            r.admitted,
            r.refused,
            r.errors_text()
        );
    }
    let _ = writeln!(
        md,
        "\nThe flash crowd's latency (ms) by answer: the admitted applicants wait for the ledger, the refused ones do not:\n\n| concurrency | admitted p50 | admitted p99 | admitted max | refused p50 | refused p99 | refused max |\n| --- | --- | --- | --- | --- | --- | --- |"
    );
    for &c in cs {
        if let Some(r) = find(runs, "grpc-hold", c) {
            let [a, x] = r.by_answer;
            let _ = writeln!(
                md,
                "| {c} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} |",
                a.p50, a.p99, a.max, x.p50, x.p99, x.max
            );
        }
    }
    let _ = writeln!(
        md,
        "\n| concurrency | grpc-hold / redis-script | grpc-hold / postgres-row-lock | grpc-hold / grpc-floor | grpc-hold / tonic-bare |\n| --- | --- | --- | --- | --- |"
    );
    for &c in cs {
        let _ = writeln!(
            md,
            "| {c} | {} | {} | {} | {} |",
            fmt(
                ratio(rate(runs, "grpc-hold", c), rate(runs, "redis-script", c)),
                2
            ),
            fmt(
                ratio(
                    rate(runs, "grpc-hold", c),
                    rate(runs, "postgres-row-lock", c)
                ),
                1
            ),
            fmt(
                ratio(rate(runs, "grpc-hold", c), rate(runs, "grpc-floor", c)),
                2
            ),
            fmt(
                ratio(rate(runs, "grpc-hold", c), rate(runs, "tonic-bare", c)),
                2
            )
        );
    }

    let _ = writeln!(
        md,
        "\nPeak resident memory (MB) of each service during each run, and of all five at one moment:\n\n| scenario | load | {} | together |\n| --- | --- |{} --- |",
        NAMES.join(" | "),
        " --- |".repeat(NAMES.len())
    );
    if let Some(idle) = idle {
        row(&mut md, "idle, before the runs", "", idle, None);
    }
    for r in runs.iter().filter(|r| {
        !matches!(
            r.scenario,
            "whatsapp-webhook" | "whatsapp-intake-replies" | "whatsapp-intake-paced-replies"
        )
    }) {
        if let Some(m) = &r.memory {
            row(
                &mut md,
                r.scenario,
                &r.load(),
                &m.per_service,
                Some(m.together),
            );
        }
    }
    if let Some(after) = after {
        row(&mut md, "resident after the runs", "", after, None);
    }

    let _ = writeln!(
        md,
        "\nCPU time per attempt (µs) of each process during each run (every process shares the same two cores, so the throughput of a saturated run is about 2,000,000 / total):\n\n| scenario | load | {} | total |\n| --- | --- |{} --- |",
        CPU_NAMES.join(" | "),
        " --- |".repeat(CPU_NAMES.len())
    );
    // The webhooks of `whatsapp` are the same run as its conversations.
    for r in runs
        .iter()
        .filter(|r| r.done > 0 && r.scenario != "whatsapp-webhook")
    {
        let Some(m) = r.memory.as_ref().filter(|m| !m.cpu_seconds.is_empty()) else {
            continue;
        };
        let per = |secs: f64| secs * 1e6 / r.done as f64;
        let cells: Vec<String> = m
            .cpu_seconds
            .iter()
            .map(|s| format!("{:.1}", per(*s)))
            .collect();
        let _ = writeln!(
            md,
            "| {} | {} | {} | {:.1} |",
            r.scenario,
            r.load(),
            cells.join(" | "),
            per(m.cpu_seconds.iter().sum())
        );
    }

    let _ = writeln!(md, "\n| target | measured | met |\n| --- | --- | --- |");
    for t in targets(runs, cs, idle) {
        let _ = writeln!(
            md,
            "| {} | {} | {} |",
            t.what,
            if t.measured.is_empty() {
                "not run"
            } else {
                &t.measured
            },
            match t.met {
                Some(true) => "yes",
                Some(false) => "no",
                None => "-",
            }
        );
    }
    let _ = writeln!(
        md,
        "\nInvariants (every session confirmed + held <= capacity; the crowd's admissions match the counters; every confirmed booking reads back CONFIRMED; every accepted webhook got exactly one reply; newly confirmed seats match the bookings): {}",
        if problems.is_empty() {
            "all held.".to_owned()
        } else {
            // The first few say what broke; thousands of lines would say it no better.
            let shown: Vec<&str> = problems.iter().take(20).map(String::as_str).collect();
            let more = problems.len() - shown.len();
            format!(
                "{} broken:\n\n- {}{}",
                problems.len(),
                shown.join("\n- "),
                if more > 0 {
                    format!("\n- ... and {more} more")
                } else {
                    String::new()
                }
            )
        }
    );

    std::fs::write(format!("{out}/performance-results.md"), &md)?;
    std::fs::write(
        format!("{out}/performance-throughput.svg"),
        svg("Throughput against concurrency", "/s", runs, Run::rate),
    )?;
    std::fs::write(
        format!("{out}/performance-p99.svg"),
        svg("p99 latency against concurrency", "ms", runs, |r| r.p99),
    )?;
    Ok(md)
}

fn row(md: &mut String, what: &str, c: &str, per: &[(String, f64)], together: Option<f64>) {
    let cells: Vec<String> = NAMES
        .iter()
        .map(|n| {
            per.iter()
                .find(|(m, _)| m == n)
                .map_or("-".into(), |(_, mb)| format!("{mb:.1}"))
        })
        .collect();
    let total = together.unwrap_or_else(|| per.iter().map(|(_, mb)| mb).sum());
    let _ = writeln!(md, "| {what} | {c} | {} | {total:.1} |", cells.join(" | "));
}

/// A line plot of `value` against concurrency, one line per scenario (log scale on y).
fn svg(title: &str, unit: &str, runs: &[Run], value: fn(&Run) -> f64) -> String {
    let closed: Vec<Run> = runs
        .iter()
        .filter(|r| r.offered.is_none())
        .cloned()
        .collect();
    let runs = closed.as_slice();
    let mut scenarios: Vec<&str> = Vec::new();
    for r in runs {
        if !scenarios.contains(&r.scenario) {
            scenarios.push(r.scenario);
        }
    }
    let xs: Vec<usize> = {
        let mut x: Vec<usize> = runs.iter().map(|r| r.concurrency).collect();
        x.sort_unstable();
        x.dedup();
        x
    };
    let ys: Vec<f64> = runs.iter().map(value).filter(|v| *v > 0.0).collect();
    let (lo, hi) = (
        ys.iter().cloned().fold(f64::MAX, f64::min).log10().floor(),
        ys.iter().cloned().fold(0.0, f64::max).log10().ceil(),
    );
    let (w, h, l, t) = (680.0, 380.0, 70.0, 30.0);
    let px = |i: usize| l + (w - l - 180.0) * i as f64 / (xs.len().max(2) - 1) as f64;
    let py = |v: f64| t + (h - t - 40.0) * (1.0 - (v.log10() - lo) / (hi - lo).max(1.0));
    let colors = [
        "#0b4f8a", "#1e6b33", "#a4161a", "#7a4f00", "#5b2a86", "#00727a", "#b05a00",
    ];
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"12\"><rect width=\"100%\" height=\"100%\" fill=\"#fff\"/><text x=\"{l}\" y=\"18\" font-weight=\"bold\">{title}</text>"
    );
    for e in lo as i32..=hi as i32 {
        let y = py(10f64.powi(e));
        let _ = write!(
            s,
            "<line x1=\"{l}\" x2=\"{}\" y1=\"{y}\" y2=\"{y}\" stroke=\"#ddd\"/><text x=\"{}\" y=\"{}\" text-anchor=\"end\">1e{e} {unit}</text>",
            w - 180.0,
            l - 6.0,
            y + 4.0
        );
    }
    for (i, x) in xs.iter().enumerate() {
        let _ = write!(
            s,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">c={x}</text>",
            px(i),
            h - 15.0
        );
    }
    for (k, sc) in scenarios.iter().enumerate() {
        let pts: Vec<String> = xs
            .iter()
            .enumerate()
            .filter_map(|(i, x)| {
                runs.iter()
                    .find(|r| r.scenario == *sc && r.concurrency == *x)
                    .map(|r| format!("{:.1},{:.1}", px(i), py(value(r).max(1e-9))))
            })
            .collect();
        let color = colors[k % colors.len()];
        let _ = write!(
            s,
            "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"2\" points=\"{}\"/><text x=\"{}\" y=\"{}\" fill=\"{color}\">{sc}</text>",
            pts.join(" "),
            w - 170.0,
            t + 20.0 + 18.0 * k as f64
        );
    }
    s.push_str("</svg>\n");
    s
}
