//! Memory of the running services, read from `/proc`: resident set size now (`VmRSS`), the
//! peak since the last reset (`VmHWM`, reset by writing 5 to `clear_refs`), and the peak of
//! all services together, sampled every 10 ms while a scenario runs.
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// The services, by name and pid, as `make up` leaves them in `.run/<name>.pid`.
#[derive(Debug, Clone)]
pub struct Services(Vec<(String, u32)>);

pub const NAMES: [&str; 5] = ["identity", "quota", "booking", "notification", "gateway"];

/// Peak resident memory during one run, MB.
#[derive(Debug, Clone, Default)]
pub struct MemoryPeak {
    pub per_service: Vec<(String, f64)>,
    /// The highest sum of all services' resident sets seen at one moment.
    pub together: f64,
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
            services: self.clone(),
            stop,
            sampler,
        }
    }
}

pub struct Watch {
    services: Services,
    stop: Arc<AtomicBool>,
    sampler: tokio::task::JoinHandle<f64>,
}

impl Watch {
    pub async fn finish(self) -> MemoryPeak {
        self.stop.store(true, Ordering::Relaxed);
        let together = self.sampler.await.unwrap_or(0.0);
        let per_service: Vec<(String, f64)> = self
            .services
            .0
            .iter()
            .map(|(n, pid)| (n.clone(), status_kb(*pid, "VmHWM:").unwrap_or(0.0) / 1024.0))
            .collect();
        MemoryPeak {
            together: together.max(per_service.iter().map(|(_, mb)| *mb).fold(0.0, f64::max)),
            per_service,
        }
    }
}
