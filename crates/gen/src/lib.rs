//! Deterministic synthetic data for a music-streaming tenant: users, tracks and the event stream they produce.
//!
//! The generator exists so that tests, demos and benchmarks all see the same realistic,
//! PII-laden data without anyone committing a data file. Its properties:
//!
//! - **Deterministic forever.** One seed gives the same bytes on every machine and every
//!   future build: the PRNG is written out in [`rng`] instead of borrowed from `rand`,
//!   whose `StdRng` may change between releases. (Two draws go through `f64::powf`, which
//!   the platform's libm may round differently in the last bit; moving a draw across an
//!   integer boundary that way has odds around 1e-15 per draw. A test pins a digest.)
//! - **Any size, constant memory.** Users and tracks are pure functions of
//!   `(seed, index)` ([`user`], [`Catalog::track`]), and the event stream keeps a few
//!   counters, so a billion events cost no more memory than a thousand.
//! - **Learnable.** Track popularity is Zipf-like and every user prefers a few genres,
//!   so recommenders trained on the output beat a popularity baseline.
//! - **Privacy-relevant.** Signups carry email, name and IP; plays carry IP; about 3% of
//!   search queries contain an email address and 2% a phone number. In canary mode
//!   ([`CanaryConfig`]) every personal value embeds a unique marker that tests can grep
//!   for on disk.
//!
//! Entry points: [`events`](fn@events) (as `serde_json::Value`s), [`write_ndjson`] (fast, the ingest
//! wire format) and [`music_schemas`] (the schema document for each event type).

pub mod clock;
pub mod events;
pub mod names;
pub mod ndjson;
pub mod queries;
pub mod rng;
pub mod schemas;
pub mod tracks;
pub mod users;

use chrono::{DateTime, TimeZone, Utc};

pub use events::{Event, EventKind, EventStream, Props, events, raw_events};
pub use ndjson::write_ndjson;
pub use schemas::music_schemas;
pub use tracks::{Catalog, Track};
pub use users::{Device, Plan, User, canary_email, canary_name, user};

/// Canary mode: every user's personal values carry a unique, greppable marker.
///
/// Tests ingest canary data and then search every file on disk for
/// [`canary_email`] / [`canary_name`]; finding one means personal data leaked in plaintext.
/// Keep `prefix` to ASCII letters and digits so the marker reads the same in JSON, logs and
/// files (other characters would be escaped and so escape the search).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CanaryConfig {
    /// Distinguishes one test run's canaries from another's.
    pub prefix: String,
}

/// What to generate. Build with [`GenConfig::new`] so users and tracks scale with events.
#[derive(Clone, Debug, PartialEq)]
pub struct GenConfig {
    /// Everything derives from this; same seed, same bytes.
    pub seed: u64,
    /// Exact number of events emitted (signups included).
    pub events: u64,
    /// Number of distinct users; each signs up once, on first appearance. Treated as at
    /// least 1. Users beyond what `events` can fit never appear.
    pub users: u64,
    /// Catalog size; track ids are `trk_0 .. trk_{tracks-1}`. Treated as at least 1.
    pub tracks: u64,
    /// Time of the first event's day.
    pub start: DateTime<Utc>,
    /// Events spread over this many days (at least 1), with a daily cycle.
    pub span_days: u32,
    /// Canary mode, for leak tests.
    pub canary: Option<CanaryConfig>,
}

/// Default number of events for [`GenConfig::default`].
pub const DEFAULT_EVENTS: u64 = 100_000;
/// Default span of the generated history.
pub const DEFAULT_SPAN_DAYS: u32 = 90;
/// Upper bound on the derived catalog size: big enough for a realistic long tail,
/// small enough that popularity statistics converge at modest event counts.
pub const DEFAULT_TRACKS_MAX: u64 = 10_000;

impl GenConfig {
    /// A config for `events` events with sizes derived from it: `users = max(events/100, 10)`
    /// (about a hundred events per user, enough history to learn from) and
    /// `tracks = min(10_000, max(events/10, 50))`.
    pub fn new(seed: u64, events: u64) -> Self {
        GenConfig {
            seed,
            events,
            users: (events / 100).max(10),
            tracks: DEFAULT_TRACKS_MAX.min((events / 10).max(50)),
            start: default_start(),
            span_days: DEFAULT_SPAN_DAYS,
            canary: None,
        }
    }

    /// The same config in canary mode.
    pub fn with_canary(mut self, prefix: &str) -> Self {
        self.canary = Some(CanaryConfig {
            prefix: prefix.to_string(),
        });
        self
    }
}

impl Default for GenConfig {
    fn default() -> Self {
        GenConfig::new(1, DEFAULT_EVENTS)
    }
}

/// 2026-08-01T00:00:00Z, the default start of the generated history.
pub fn default_start() -> DateTime<Utc> {
    // 2026-08-01T00:00:00Z as Unix seconds; `timestamp_opt` on a constant cannot fail,
    // but fall back to the epoch rather than panic.
    Utc.timestamp_opt(1_785_542_400, 0)
        .single()
        .unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_start_is_august_first() {
        assert_eq!(default_start().to_rfc3339(), "2026-08-01T00:00:00+00:00");
    }

    #[test]
    fn sizes_scale_with_events() {
        let c = GenConfig::new(1, 1_000_000);
        assert_eq!((c.users, c.tracks), (10_000, 10_000));
        let c = GenConfig::new(1, 100);
        assert_eq!((c.users, c.tracks), (10, 50));
    }
}
