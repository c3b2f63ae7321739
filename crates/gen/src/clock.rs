//! Event timestamps: a steady march through the configured span with a daily listening cycle, and a fast RFC 3339 formatter.

use crate::rng::Rng;

/// Seconds in a day.
const DAY_S: i64 = 86_400;

/// Relative listening activity per UTC hour: quiet at night, a commute bump, an evening peak.
const HOUR_WEIGHTS: [f64; 24] = [
    3.0, 2.0, 1.5, 1.2, 1.2, 1.5, 2.5, 4.0, 5.0, 5.0, 5.0, 5.5, 6.0, 6.0, 5.5, 5.5, 6.0, 7.0, 8.0,
    9.0, 9.5, 9.0, 7.0, 5.0,
];

/// Largest deviation, in seconds, from the ideal monotone time: real streams arrive a
/// little out of order and ingest must cope.
pub const JITTER_S_MAX: i64 = 30;

/// Maps event number `n` to a time. Purely a function of `n` (plus one jitter draw), so
/// the stream needs no state for it and times rise with `n` apart from the jitter.
#[derive(Clone, Debug)]
pub struct Clock {
    start_s: i64,
    span_s: i64,
    days_per_event: f64,
    /// Cumulative share of a day's activity before each hour; `cum[24] == 1`.
    cum: [f64; 25],
}

impl Clock {
    /// A clock spreading `events` events over `span_days` days from `start_s`.
    pub fn new(start_s: i64, span_days: u32, events: u64) -> Self {
        let days = span_days.max(1);
        let total: f64 = HOUR_WEIGHTS.iter().sum();
        let mut cum = [0.0; 25];
        for h in 0..24 {
            cum[h + 1] = cum[h] + HOUR_WEIGHTS[h] / total;
        }
        cum[24] = 1.0;
        Clock {
            start_s,
            span_s: i64::from(days) * DAY_S,
            days_per_event: f64::from(days) / events.max(1) as f64,
            cum,
        }
    }

    /// The time, in Unix seconds, of event `n`.
    pub fn at(&self, n: u64, rng: &mut Rng) -> i64 {
        let x = (n as f64 + 0.5) * self.days_per_event;
        let day = x.floor();
        let second = self.second_of_day(x - day);
        let jitter = rng.below(2 * JITTER_S_MAX as u64 + 1) as i64 - JITTER_S_MAX;
        let t = day as i64 * DAY_S + second + jitter;
        self.start_s + t.clamp(0, self.span_s - 1)
    }

    /// Inverts the daily activity curve: fraction `f` of the day's events → second of day.
    fn second_of_day(&self, f: f64) -> i64 {
        let hour = self.cum[1..].partition_point(|c| *c <= f).min(23);
        let share = self.cum[hour + 1] - self.cum[hour];
        let within = if share > 0.0 {
            ((f - self.cum[hour]) / share).clamp(0.0, 1.0)
        } else {
            0.0
        };
        ((hour as f64 + within) * 3600.0) as i64
    }
}

/// Proleptic Gregorian (year, month, day) of a day count since 1970-01-01.
/// Integer-only "days to civil" conversion via 400-year eras.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Appends `n` as exactly `width` zero-padded digits.
fn push_padded(out: &mut Vec<u8>, n: i64, width: usize) {
    let mut buf = [b'0'; 8];
    let mut v = n.unsigned_abs();
    for slot in buf[..width].iter_mut().rev() {
        *slot = b'0' + (v % 10) as u8;
        v /= 10;
    }
    out.extend_from_slice(&buf[..width]);
}

/// Appends `secs` (Unix seconds, years 0..=9999) as `YYYY-MM-DDTHH:MM:SSZ`.
///
/// Hand-written because chrono's formatter dominated the NDJSON writer's profile.
pub fn write_rfc3339(out: &mut Vec<u8>, secs: i64) {
    let days = secs.div_euclid(DAY_S);
    let sod = secs.rem_euclid(DAY_S);
    let (y, m, d) = civil_from_days(days);
    push_padded(out, y, 4);
    out.push(b'-');
    push_padded(out, i64::from(m), 2);
    out.push(b'-');
    push_padded(out, i64::from(d), 2);
    out.push(b'T');
    push_padded(out, sod / 3600, 2);
    out.push(b':');
    push_padded(out, sod / 60 % 60, 2);
    out.push(b':');
    push_padded(out, sod % 60, 2);
    out.push(b'Z');
}

/// [`write_rfc3339`] into a new `String`.
pub fn rfc3339(secs: i64) -> String {
    let mut v = Vec::with_capacity(20);
    write_rfc3339(&mut v, secs);
    // Only ASCII digits and separators were written.
    String::from_utf8_lossy(&v).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{SecondsFormat, TimeZone, Utc};

    #[test]
    fn formats_like_chrono() {
        let mut r = Rng::new(9);
        let mut samples = vec![0, 951_782_400, 4_107_542_399, 1_785_542_400, 1_709_164_800];
        samples.extend((0..2000).map(|_| r.below(253_402_300_799) as i64));
        for s in samples {
            let want = Utc
                .timestamp_opt(s, 0)
                .unwrap()
                .to_rfc3339_opts(SecondsFormat::Secs, true);
            assert_eq!(rfc3339(s), want, "secs {s}");
        }
    }

    #[test]
    fn times_stay_in_span_and_rise() {
        let c = Clock::new(1000, 2, 10_000);
        let mut r = Rng::new(1);
        let mut prev = i64::MIN;
        for n in 0..10_000 {
            let t = c.at(n, &mut r);
            assert!((1000..1000 + 2 * DAY_S).contains(&t));
            assert!(
                t >= prev.saturating_sub(2 * JITTER_S_MAX),
                "event {n} went back too far"
            );
            prev = prev.max(t);
        }
    }

    #[test]
    fn evenings_are_busier_than_nights() {
        let c = Clock::new(0, 10, 100_000);
        let mut r = Rng::new(2);
        let mut per_hour = [0u32; 24];
        for n in 0..100_000 {
            per_hour[(c.at(n, &mut r).rem_euclid(DAY_S) / 3600) as usize] += 1;
        }
        assert!(per_hour[20] > 3 * per_hour[4], "{per_hour:?}");
    }
}
