//! Per-principal token buckets: a key (or user) that spends its burst waits for refills and
//! is answered 429 with `Retry-After` meanwhile.
//!
//! Buckets live in memory, keyed by the principal's audit name; a restart refills them. The
//! map is bounded: past [`BUCKETS_MAX`] principals, buckets that have refilled (idle ones,
//! which a fresh bucket would equal) are dropped first.

use parking_lot::Mutex;
use std::collections::HashMap;
use std::time::Instant;
use steward_access::RateLimit;

/// Principals tracked at once.
pub const BUCKETS_MAX: usize = 100_000;

struct Bucket {
    tokens: f64,
    at: Instant,
}

#[derive(Default)]
pub struct RateLimiter {
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl RateLimiter {
    /// Takes one token for `who`; `Err(seconds)` says how long until one is available.
    pub fn take(&self, who: &str, limit: RateLimit, now: Instant) -> Result<(), u64> {
        let rate = f64::from(limit.per_second);
        let burst = f64::from(limit.burst);
        let mut buckets = self.buckets.lock();
        if buckets.len() >= BUCKETS_MAX && !buckets.contains_key(who) {
            evict_idle(&mut buckets, rate, burst, now);
        }
        let bucket = buckets.entry(who.to_owned()).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate).min(burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - bucket.tokens) / rate).ceil().max(1.0) as u64)
        }
    }
}

fn evict_idle(buckets: &mut HashMap<String, Bucket>, rate: f64, burst: f64, now: Instant) {
    buckets
        .retain(|_, b| b.tokens + now.saturating_duration_since(b.at).as_secs_f64() * rate < burst);
    if buckets.len() >= BUCKETS_MAX {
        // Everyone is busy: forget the oldest-touched half rather than grow without bound.
        let mut ages: Vec<Instant> = buckets.values().map(|b| b.at).collect();
        ages.sort_unstable();
        let cut = ages[ages.len() / 2];
        buckets.retain(|_, b| b.at > cut);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_bucket_spends_its_burst_then_refills_at_its_rate() {
        let limiter = RateLimiter::default();
        let limit = RateLimit::new(2, 3).unwrap();
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(limiter.take("key:a", limit, t0), Ok(()));
        }
        assert_eq!(limiter.take("key:a", limit, t0), Err(1));
        // Another principal has its own bucket.
        assert_eq!(limiter.take("key:b", limit, t0), Ok(()));
        // Half a second at 2/s gives one token back.
        assert_eq!(
            limiter.take("key:a", limit, t0 + Duration::from_millis(500)),
            Ok(())
        );
        assert!(
            limiter
                .take("key:a", limit, t0 + Duration::from_millis(500))
                .is_err()
        );
        // Long idle refills to the burst, never beyond.
        let later = t0 + Duration::from_secs(60);
        for _ in 0..3 {
            assert_eq!(limiter.take("key:a", limit, later), Ok(()));
        }
        assert!(limiter.take("key:a", limit, later).is_err());
    }

    #[test]
    fn retry_after_reflects_a_slow_rate() {
        let limiter = RateLimiter::default();
        let limit = RateLimit::new(1, 1).unwrap();
        let t0 = Instant::now();
        assert_eq!(limiter.take("k", limit, t0), Ok(()));
        assert_eq!(limiter.take("k", limit, t0), Err(1));
    }
}
