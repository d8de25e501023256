//! The closed-loop driver: `c` workers take attempt numbers from one counter until `n` are
//! taken or the time is up, and each attempt's latency and outcome is recorded.
use crate::memory::MemoryPeak;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// What one attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Seats admitted, a booking confirmed, an answer served.
    Admitted,
    /// Refused as the system should refuse it (sold out).
    Refused,
    /// Anything else, by kind (a gRPC code, an HTTP status, a missing reply).
    Error(String),
}

/// One scenario at one concurrency.
#[derive(Debug, Clone, Default)]
pub struct Run {
    pub scenario: &'static str,
    pub concurrency: usize,
    pub done: usize,
    pub admitted: usize,
    pub refused: usize,
    pub errors: BTreeMap<String, usize>,
    pub seconds: f64,
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
    /// Peak memory of each service (and of all of them at once) during the run.
    pub memory: Option<MemoryPeak>,
}

impl Run {
    pub fn rate(&self) -> f64 {
        if self.seconds > 0.0 {
            self.done as f64 / self.seconds
        } else {
            0.0
        }
    }

    /// `kind: count, ...`, or `0`.
    pub fn errors_text(&self) -> String {
        if self.errors.is_empty() {
            return "0".into();
        }
        self.errors
            .iter()
            .map(|(k, n)| format!("{k}: {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Fills the latency columns from milliseconds (in any order).
    pub fn set_latencies(&mut self, mut ms: Vec<f64>) {
        ms.sort_by(f64::total_cmp);
        let q = |p: f64| {
            ms.get(((ms.len() as f64 * p) as usize).min(ms.len().saturating_sub(1)))
                .copied()
                .unwrap_or(0.0)
        };
        (self.p50, self.p95, self.p99) = (q(0.50), q(0.95), q(0.99));
        self.max = ms.last().copied().unwrap_or(0.0);
        self.done = ms.len();
    }

    pub fn print(&self) {
        eprintln!(
            "{:>20} c={:<5} {:>9.0}/s  p50 {:.2} ms  p99 {:.2} ms  admitted {} refused {} errors {}",
            self.scenario,
            self.concurrency,
            self.rate(),
            self.p50,
            self.p99,
            self.admitted,
            self.refused,
            self.errors_text()
        );
    }
}

/// Runs `n` attempts with `c` workers, for at most `max`.
pub async fn drive<F, Fut>(
    scenario: &'static str,
    n: usize,
    c: usize,
    max: Duration,
    attempt: F,
) -> Run
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Outcome> + Send,
{
    let attempt = Arc::new(attempt);
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let deadline = start + max;
    let mut workers = Vec::new();
    for _ in 0..c {
        let (attempt, next) = (attempt.clone(), next.clone());
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut outcomes = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n || Instant::now() > deadline {
                    break;
                }
                let t = Instant::now();
                outcomes.push(attempt(i).await);
                latencies.push(t.elapsed().as_secs_f64() * 1000.0);
            }
            (latencies, outcomes)
        }));
    }
    let mut run = Run {
        scenario,
        concurrency: c,
        ..Run::default()
    };
    let mut all = Vec::with_capacity(n);
    for w in workers {
        let (latencies, outcomes) = w.await.expect("worker");
        all.extend(latencies);
        for o in outcomes {
            match o {
                Outcome::Admitted => run.admitted += 1,
                Outcome::Refused => run.refused += 1,
                Outcome::Error(kind) => *run.errors.entry(kind).or_default() += 1,
            }
        }
    }
    run.seconds = start.elapsed().as_secs_f64();
    run.set_latencies(all);
    run
}

/// The canonical name of a gRPC status code (error kinds in the tables).
pub fn code_name(s: &tonic::Status) -> String {
    format!("{:?}", s.code())
}
