//! Latency samples, nearest-rank percentiles (the same rule as bench/pg_ingest.py) and process memory.

use std::time::Duration;

/// Per-call latencies in milliseconds, gathered per thread and merged at the end.
#[derive(Default, Debug, Clone)]
pub struct Latencies {
    ms: Vec<f64>,
}

impl Latencies {
    pub fn with_capacity(n: usize) -> Latencies {
        Latencies {
            ms: Vec::with_capacity(n),
        }
    }

    pub fn record(&mut self, elapsed: Duration) {
        self.ms.push(elapsed.as_secs_f64() * 1e3);
    }

    pub fn merge(&mut self, other: Latencies) {
        self.ms.extend(other.ms);
    }

    pub fn len(&self) -> usize {
        self.ms.len()
    }

    /// Nearest-rank percentile (`p` in 0..=100), 0 with no samples.
    pub fn percentile(&self, p: f64) -> f64 {
        if self.ms.is_empty() {
            return 0.0;
        }
        let mut sorted = self.ms.clone();
        sorted.sort_by(f64::total_cmp);
        let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
        sorted[rank.clamp(1, sorted.len()) - 1]
    }

    pub fn max(&self) -> f64 {
        self.ms.iter().copied().fold(0.0, f64::max)
    }
}

/// Rounds to three decimals for the JSON line.
pub fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// A `kB` field of /proc/self/status (VmRSS, VmHWM) in MiB; 0 where unavailable.
pub fn proc_status_mb(field: &str) -> f64 {
    let Ok(text) = std::fs::read_to_string("/proc/self/status") else {
        return 0.0;
    };
    text.lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<f64>()
                .ok()
        })
        .map(|kb| round3(kb / 1024.0))
        .unwrap_or(0.0)
}

/// Current resident set size in MiB.
pub fn rss_mb() -> f64 {
    proc_status_mb("VmRSS")
}

/// Peak resident set size (high-water mark) in MiB.
pub fn peak_rss_mb() -> f64 {
    proc_status_mb("VmHWM")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_matches_pg_ingest() {
        let mut l = Latencies::default();
        for i in 1..=100 {
            l.record(Duration::from_millis(i));
        }
        assert_eq!(l.percentile(50.0).round(), 50.0);
        assert_eq!(l.percentile(99.0).round(), 99.0);
        assert_eq!(l.percentile(100.0).round(), 100.0);
        assert_eq!(Latencies::default().percentile(99.0), 0.0);
    }

    #[test]
    fn reads_own_memory() {
        if cfg!(target_os = "linux") {
            assert!(rss_mb() > 0.0);
            assert!(peak_rss_mb() >= rss_mb() * 0.5);
        }
    }
}
