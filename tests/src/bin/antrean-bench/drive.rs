//! The drivers. Closed loop ([`drive`]): `c` workers take attempt numbers from one counter
//! until `n` are taken or the time is up. Open loop ([`drive_paced`]): attempts start at a
//! fixed rate whatever the answers do. Each attempt's latency and outcome is recorded.
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
    /// Workers of a closed-loop run; 0 for an open-loop run (see `offered`).
    pub concurrency: usize,
    /// Attempts started per second by an open-loop run.
    pub offered: Option<f64>,
    pub done: usize,
    pub admitted: usize,
    pub refused: usize,
    pub errors: BTreeMap<String, usize>,
    pub seconds: f64,
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
    /// p50 / p99 / max of the admitted attempts, and of the refused ones.
    pub by_answer: [Quantiles; 2],
    /// Peak memory of each service (and of all of them at once) during the run.
    pub memory: Option<MemoryPeak>,
}

/// Of runs of one scenario at one load, the one of median throughput, with the highest
/// memory any of them saw (a memory target holds for every run, not the middle one). Its CPU
/// time stays its own, so the CPU per attempt is that of the run reported.
pub fn median_run(mut runs: Vec<Run>) -> Run {
    runs.sort_by(|a, b| a.rate().total_cmp(&b.rate()));
    let peaks: Vec<MemoryPeak> = runs.iter().filter_map(|r| r.memory.clone()).collect();
    let mut kept = runs.swap_remove(runs.len() / 2);
    if let Some(m) = &mut kept.memory {
        for p in &peaks {
            m.together = m.together.max(p.together);
            for ((name, mb), (other, seen)) in m.per_service.iter_mut().zip(&p.per_service) {
                debug_assert_eq!(name, other);
                *mb = mb.max(*seen);
            }
        }
    }
    kept
}

/// p50, p99 and max latency of some attempts, in milliseconds (zero when there were none).
#[derive(Debug, Clone, Copy, Default)]
pub struct Quantiles {
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
}

/// The value at quantile `p` of sorted `ms`.
fn quantile(ms: &[f64], p: f64) -> f64 {
    ms.get(((ms.len() as f64 * p) as usize).min(ms.len().saturating_sub(1)))
        .copied()
        .unwrap_or(0.0)
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

    /// Fills the counts and the latency columns from each attempt's latency in
    /// milliseconds and outcome (in any order).
    pub fn set_attempts(&mut self, attempts: Vec<(f64, Outcome)>) {
        let mut ms = Vec::with_capacity(attempts.len());
        let mut answers: [Vec<f64>; 2] = Default::default();
        for (t, o) in attempts {
            ms.push(t);
            match o {
                Outcome::Admitted => {
                    self.admitted += 1;
                    answers[0].push(t);
                }
                Outcome::Refused => {
                    self.refused += 1;
                    answers[1].push(t);
                }
                Outcome::Error(kind) => *self.errors.entry(kind).or_default() += 1,
            }
        }
        for (q, mut some) in self.by_answer.iter_mut().zip(answers) {
            some.sort_by(f64::total_cmp);
            *q = Quantiles {
                p50: quantile(&some, 0.50),
                p99: quantile(&some, 0.99),
                max: some.last().copied().unwrap_or(0.0),
            };
        }
        ms.sort_by(f64::total_cmp);
        (self.p50, self.p95, self.p99) = (
            quantile(&ms, 0.50),
            quantile(&ms, 0.95),
            quantile(&ms, 0.99),
        );
        self.max = ms.last().copied().unwrap_or(0.0);
        self.done = ms.len();
    }

    /// `16` for 16 workers, `2000/s offered` for an open-loop run.
    pub fn load(&self) -> String {
        match self.offered {
            Some(rate) => format!("{rate:.0}/s offered"),
            None => self.concurrency.to_string(),
        }
    }

    pub fn print(&self) {
        eprintln!(
            "{:>20} {:<7} {:>9.0}/s  p50 {:.2} ms  p99 {:.2} ms  admitted {} refused {} errors {}",
            self.scenario,
            match self.offered {
                Some(_) => self.load(),
                None => format!("c={}", self.concurrency),
            },
            self.rate(),
            self.p50,
            self.p99,
            self.admitted,
            self.refused,
            self.errors_text()
        );
    }
}

/// How a run loads the system.
#[derive(Debug, Clone, Copy)]
pub enum Load {
    /// Closed loop: this many workers, each sending its next attempt when answered.
    Workers(usize),
    /// Open loop: this many attempts started per second.
    Rate(f64),
}

impl Load {
    /// Runs `n` attempts of `attempt` under this load.
    pub async fn drive<F, Fut>(
        self,
        scenario: &'static str,
        n: usize,
        max: Duration,
        attempt: F,
    ) -> Run
    where
        F: Fn(usize) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Outcome> + Send + 'static,
    {
        match self {
            Load::Workers(c) => drive(scenario, n, c, max, attempt).await,
            Load::Rate(rate) => drive_paced(scenario, n, rate, max, attempt).await,
        }
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
            let mut attempts = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n || Instant::now() > deadline {
                    break;
                }
                let t = Instant::now();
                let outcome = attempt(i).await;
                attempts.push((t.elapsed().as_secs_f64() * 1000.0, outcome));
            }
            attempts
        }));
    }
    let mut run = Run {
        scenario,
        concurrency: c,
        ..Run::default()
    };
    let mut all = Vec::with_capacity(n);
    for w in workers {
        all.extend(w.await.expect("worker"));
    }
    run.seconds = start.elapsed().as_secs_f64();
    run.set_attempts(all);
    run
}

/// Starts attempt `i` at `i / rate` seconds, each in a task of its own, for at most `max`;
/// at most 4,096 are outstanding (an attempt due while that many wait starts late, and
/// its lateness counts in its latency). A latency runs from when the attempt was due, so a
/// slow answer cannot hide the attempts it held up.
pub async fn drive_paced<F, Fut>(
    scenario: &'static str,
    n: usize,
    rate: f64,
    max: Duration,
    attempt: F,
) -> Run
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Outcome> + Send + 'static,
{
    let in_flight = Arc::new(tokio::sync::Semaphore::new(4096));
    let start = tokio::time::Instant::now();
    let deadline = start + max;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..n {
        let due = start + Duration::from_secs_f64(i as f64 / rate);
        if due > deadline {
            break;
        }
        tokio::time::sleep_until(due).await;
        let permit = in_flight.clone().acquire_owned().await.expect("open");
        let run = attempt(i);
        tasks.spawn(async move {
            let outcome = run.await;
            drop(permit);
            (due.elapsed().as_secs_f64() * 1000.0, outcome)
        });
    }
    let mut run = Run {
        scenario,
        offered: Some(rate),
        ..Run::default()
    };
    let mut all = Vec::with_capacity(n);
    while let Some(done) = tasks.join_next().await {
        all.push(done.expect("attempt"));
    }
    run.seconds = start.elapsed().as_secs_f64();
    run.set_attempts(all);
    run
}

/// The canonical name of a gRPC status code (error kinds in the tables).
pub fn code_name(s: &tonic::Status) -> String {
    format!("{:?}", s.code())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(done: usize, p99: f64, together: f64) -> Run {
        Run {
            scenario: "grpc-hold",
            concurrency: 16,
            done,
            seconds: 1.0,
            p99,
            memory: Some(MemoryPeak {
                per_service: vec![("quota".into(), together / 2.0)],
                together,
                cpu_seconds: vec![done as f64 / 1e6],
            }),
            ..Run::default()
        }
    }

    #[test]
    fn the_median_run_is_kept_with_the_highest_memory_of_all() {
        let kept = median_run(vec![
            run(300, 3.0, 60.0),
            run(100, 9.0, 80.0),
            run(200, 5.0, 70.0),
        ]);
        assert_eq!((kept.done, kept.p99), (200, 5.0));
        let memory = kept.memory.unwrap();
        assert_eq!(memory.together, 80.0);
        assert_eq!(memory.per_service, vec![("quota".to_owned(), 40.0)]);
        assert_eq!(memory.cpu_seconds, vec![200.0 / 1e6], "its own CPU time");
        assert_eq!(median_run(vec![run(7, 1.0, 1.0)]).done, 7);
    }
}
