//! Memory of the running services, read from `/proc`: resident set size now (`VmRSS`), the
//! peak since the last reset (`VmHWM`, reset by writing 5 to `clear_refs`), and the peak of
//! all services together, sampled every 10 ms while a scenario runs. And the CPU time each
//! process took during a run (`utime + stime` of `/proc/<pid>/stat`): each service, the
//! generator itself, Redis and PostgreSQL (every `postgres` process, plus what the
//! postmaster counts for backends that ended during the run).
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// The services, by name and pid, as `make up` leaves them in `.run/<name>.pid`.
#[derive(Debug, Clone)]
pub struct Services(Vec<(String, u32)>);

pub const NAMES: [&str; 5] = ["identity", "quota", "booking", "notification", "gateway"];

/// Peak resident memory during one run, MB, and the CPU time taken during it.
#[derive(Debug, Clone, Default)]
pub struct MemoryPeak {
    pub per_service: Vec<(String, f64)>,
    /// The highest sum of all services' resident sets seen at one moment.
    pub together: f64,
    /// CPU seconds during the run, by process: [`CPU_NAMES`] in order.
    pub cpu_seconds: Vec<f64>,
}

/// The processes whose CPU time a run reports: the services, then the rest.
pub const CPU_NAMES: [&str; 8] = [
    "identity",
    "quota",
    "booking",
    "notification",
    "gateway",
    "generator",
    "redis",
    "postgres",
];

/// Clock ticks per second of `/proc/<pid>/stat` (`USER_HZ`, 100 on Linux).
const TICKS: f64 = 100.0;

/// From `/proc/<pid>/stat`: utime, stime, cutime, cstime in ticks, and the parent's pid.
fn stat(pid: &str) -> Option<([f64; 4], String)> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // After the parenthesised command name the fields run from the 3rd (state) on.
    let f: Vec<&str> = s[s.rfind(')')? + 2..].split_whitespace().collect();
    let n = |i: usize| f.get(i - 3).and_then(|v| v.parse::<f64>().ok());
    Some(([n(14)?, n(15)?, n(16)?, n(17)?], f.get(1)?.to_string()))
}

fn comm_of(pid: &str) -> Option<String> {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .ok()
        .map(|c| c.trim_end().to_owned())
}

/// CPU seconds so far of every process named `comm`; for the one whose parent is not also
/// `comm` (PostgreSQL's postmaster), with what its ended children took.
fn cpu_of_comm(comm: &str) -> f64 {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0.0;
    };
    let mut ticks = 0.0;
    for e in dir.flatten() {
        let pid = e.file_name().to_string_lossy().into_owned();
        if !pid.bytes().all(|b| b.is_ascii_digit()) || comm_of(&pid).as_deref() != Some(comm) {
            continue;
        }
        if let Some(([u, s, cu, cs], ppid)) = stat(&pid) {
            ticks += u + s;
            if comm_of(&ppid).as_deref() != Some(comm) {
                ticks += cu + cs;
            }
        }
    }
    ticks / TICKS
}

fn status_kb(pid: u32, field: &str) -> Option<f64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = s.lines().find(|l| l.starts_with(field))?;
    line[field.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

impl Services {
    /// Reads `<dir>/<name>.pid` for every service; None when one is missing or not running.
    pub fn from_dir(dir: &str) -> Option<Self> {
        let mut v = Vec::new();
        for name in NAMES {
            let pid: u32 = std::fs::read_to_string(format!("{dir}/{name}.pid"))
                .ok()?
                .trim()
                .parse()
                .ok()?;
            status_kb(pid, "VmRSS:")?;
            v.push((name.to_owned(), pid));
        }
        Some(Self(v))
    }

    /// Resident memory of each service now, MB.
    pub fn resident(&self) -> Vec<(String, f64)> {
        self.0
            .iter()
            .map(|(n, pid)| (n.clone(), status_kb(*pid, "VmRSS:").unwrap_or(0.0) / 1024.0))
            .collect()
    }

    /// CPU seconds so far of each of [`CPU_NAMES`].
    fn cpu(&self) -> Vec<f64> {
        let mut v: Vec<f64> = self
            .0
            .iter()
            .map(|(_, pid)| stat(&pid.to_string()).map_or(0.0, |([u, s, ..], _)| (u + s) / TICKS))
            .collect();
        v.push(stat("self").map_or(0.0, |([u, s, ..], _)| (u + s) / TICKS));
        v.push(cpu_of_comm("redis-server"));
        v.push(cpu_of_comm("postgres"));
        v
    }

    /// CPU seconds so far of everything measured but the generator: the services, Redis and
    /// PostgreSQL.
    pub fn system_cpu(&self) -> f64 {
        self.cpu()
            .iter()
            .zip(CPU_NAMES)
            .filter(|(_, name)| *name != "generator")
            .map(|(s, _)| s)
            .sum()
    }

    /// Resets every peak and samples the sum until [`Watch::finish`].
    pub fn watch(&self) -> Watch {
        for (_, pid) in &self.0 {
            // Needs the right to write to the process's clear_refs (same user); without it
            // the peak is the peak since start, which is never lower.
            let _ = std::fs::write(format!("/proc/{pid}/clear_refs"), "5");
        }
        let stop = Arc::new(AtomicBool::new(false));
        let services = self.clone();
        let flag = stop.clone();
        let sampler = tokio::spawn(async move {
            let mut peak: f64 = 0.0;
            while !flag.load(Ordering::Relaxed) {
                let sum: f64 = services.resident().iter().map(|(_, mb)| mb).sum();
                peak = peak.max(sum);
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            peak
        });
        Watch {
            cpu_before: self.cpu(),
            services: self.clone(),
            stop,
            sampler,
        }
    }
}

pub struct Watch {
    services: Services,
    cpu_before: Vec<f64>,
    stop: Arc<AtomicBool>,
    sampler: tokio::task::JoinHandle<f64>,
}

impl Watch {
    pub async fn finish(self) -> MemoryPeak {
        self.stop.store(true, Ordering::Relaxed);
        let together = self.sampler.await.unwrap_or(0.0);
        let cpu_seconds = self
            .services
            .cpu()
            .iter()
            .zip(&self.cpu_before)
            .map(|(after, before)| (after - before).max(0.0))
            .collect();
        let per_service: Vec<(String, f64)> = self
            .services
            .0
            .iter()
            .map(|(n, pid)| (n.clone(), status_kb(*pid, "VmHWM:").unwrap_or(0.0) / 1024.0))
            .collect();
        MemoryPeak {
            together: together.max(per_service.iter().map(|(_, mb)| *mb).fold(0.0, f64::max)),
            per_service,
            cpu_seconds,
        }
    }
}
