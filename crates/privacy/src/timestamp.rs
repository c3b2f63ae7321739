//! Timestamps: RFC 3339 text to i64 microseconds since the Unix epoch (UTC) and back.

use chrono::{DateTime, Datelike, SecondsFormat, Utc};

use crate::limits::TIMESTAMP_BYTES_MAX;

/// Parses an RFC 3339 timestamp (any offset) to microseconds since the epoch, UTC.
///
/// Digits below a microsecond are dropped (rounded toward the past), since storage keeps
/// microseconds. `None` if the text is not RFC 3339. The result may fall just outside
/// the years 0000 to 9999; [`normalize_timestamp`] rejects those.
pub fn parse_timestamp_micros(text: &str) -> Option<i64> {
    if text.len() > TIMESTAMP_BYTES_MAX {
        return None;
    }
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.timestamp_micros())
}

/// Formats microseconds since the epoch as canonical RFC 3339 in UTC, ending in `Z`.
///
/// Fractional digits appear only as needed (0, 3 or 6), so each instant has exactly
/// one text. `None` for instants outside the years 0000 to 9999, which RFC 3339 cannot
/// write (an offset can push a parsed time just past either end).
pub fn format_timestamp_micros(micros: i64) -> Option<String> {
    DateTime::<Utc>::from_timestamp_micros(micros)
        .filter(|t| (0..=9999).contains(&t.year()))
        .map(|t| t.to_rfc3339_opts(SecondsFormat::AutoSi, true))
}

/// Rewrites an RFC 3339 timestamp in its canonical UTC form; `None` if it is not RFC 3339.
pub fn normalize_timestamp(text: &str) -> Option<String> {
    parse_timestamp_micros(text).and_then(format_timestamp_micros)
}
