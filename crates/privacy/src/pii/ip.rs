//! IP addresses: IPv4 dotted quads (octets 0 to 255, no leading zeros) and IPv6 in full, compressed and IPv4-embedded forms.
//!
//! A dotted quad inside a longer dotted number (`1.2.3.4.5`) or glued to a word (`v1.2.3.4`)
//! is not an address, and one next to "version", "build" or "release" is taken for a
//! version. IPv6 needs eight groups, or `::` with at least two groups and a digit, so
//! times (`10:30:45`), MAC addresses and `std::fmt` stay out; loopback `::1` is not personal.

use super::context::{ContextWords, char_at, char_before, score};
use super::numbers::Range;
use super::{PiiEntity, PiiFinding};

const WORDS: ContextWords = ContextWords {
    positive: word_list![
        "ip",
        "ips",
        "ipv4",
        "ipv6",
        "ip address",
        "address",
        "addr",
        "host",
        "server",
        "client",
        "login",
        "logged",
        "logins",
        "connection",
        "connected",
        "connecting",
        "source",
        "src",
        "dst",
        "gateway",
        "proxy",
        "vpn",
        "from",
        "remote",
    ],
    negative: word_list![
        "version", "versions", "ver", "v", "release", "released", "build", "firmware", "patch",
        "sdk", "update", "updated", "upgrade", "upgraded", "app", "rev", "revision", "oid",
    ],
    boost: 0.2,
    penalty: 0.45,
};

const BASE_V4: f32 = 0.75;
const BASE_V6: f32 = 0.8;

/// Most bytes of one IPv6 candidate run (a full address with an embedded IPv4 has 45).
const V6_RUN_BYTES_MAX: usize = 64;

/// An IPv4 address if `range` is one.
pub(super) fn v4_check(range: &Range) -> Option<PiiFinding> {
    // Not in parentheses either: `dpkg (1.15.5.4)` is a version.
    if range.groups.len() != 4
        || range.plus
        || range.lparen
        || range.enclosed
        || !range.all_seps(".")
    {
        return None;
    }
    let text = range.text.as_bytes();
    let octets_ok = range
        .groups
        .iter()
        .all(|&(s, e)| octet(&text[s..e]).is_some());
    if !octets_ok {
        return None;
    }
    let (confidence, context) = score(range.text, range.start, range.end, BASE_V4, &WORDS);
    Some(range.finding(PiiEntity::IpAddress, confidence, context))
}

/// The value of a decimal octet: 0 to 255, no leading zero.
fn octet(digits: &[u8]) -> Option<u8> {
    if digits.is_empty() || digits.len() > 3 || (digits.len() > 1 && digits[0] == b'0') {
        return None;
    }
    let v = digits.iter().try_fold(0u32, |acc, &d| {
        d.is_ascii_digit().then(|| acc * 10 + u32::from(d - b'0'))
    })?;
    u8::try_from(v).ok()
}

fn is_v6_byte(b: u8) -> bool {
    b.is_ascii_hexdigit() || b == b':' || b == b'.'
}

/// Looks for an IPv6 address around the colon at byte `i`; returns the byte offset past the
/// run examined, so the run's other colons are not examined again.
pub(super) fn v6_at_colon(text: &str, i: usize, out: &mut Vec<PiiFinding>) -> usize {
    let bytes = text.as_bytes();
    let mut start = i;
    while start > 0 && is_v6_byte(bytes[start - 1]) && i - start < V6_RUN_BYTES_MAX {
        start -= 1;
    }
    let mut end = i + 1;
    while end < bytes.len() && is_v6_byte(bytes[end]) && end - start < V6_RUN_BYTES_MAX {
        end += 1;
    }
    let run_end = end;
    // A sentence may end right after the address; a single trailing colon is punctuation.
    while end > start
        && (bytes[end - 1] == b'.'
            || (bytes[end - 1] == b':' && bytes.get(end.wrapping_sub(2)) != Some(&b':')))
    {
        end -= 1;
    }
    while start < end && bytes[start] == b'.' {
        start += 1;
    }
    let glued = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
    if glued(char_before(text, start)) || glued(char_at(text, run_end)) || start >= end {
        return run_end;
    }
    let candidate = &bytes[start..end];
    if parse_v6(candidate) {
        let base = if candidate.windows(2).any(|w| w == b"::") {
            BASE_V6 - 0.05
        } else {
            BASE_V6
        };
        let (confidence, context) = score(text, start, end, base, &WORDS);
        out.push(PiiFinding {
            entity: PiiEntity::IpAddress,
            start,
            end,
            confidence,
            context,
        });
    }
    run_end
}

/// Whether `s` is an IPv6 address worth reporting (see the module doc).
fn parse_v6(s: &[u8]) -> bool {
    let compressed = s.windows(2).filter(|w| *w == b"::").count();
    if compressed > 1 || s.windows(3).any(|w| w == b":::") || !s.iter().any(u8::is_ascii_digit) {
        return false;
    }
    let (head, tail): (&[u8], &[u8]) = if compressed == 1 {
        let at = s.windows(2).position(|w| w == b"::").unwrap_or(0);
        (&s[..at], &s[at + 2..])
    } else {
        (s, &[])
    };
    let mut groups = 0;
    let mut explicit = 0;
    let sides = [head, tail];
    let part_count: usize = sides
        .iter()
        .filter(|s| !s.is_empty())
        .map(|s| s.split(|&b| b == b':').count())
        .sum();
    for part in sides
        .iter()
        .filter(|s| !s.is_empty())
        .flat_map(|s| s.split(|&b| b == b':'))
    {
        explicit += 1;
        if part.contains(&b'.') {
            // An embedded IPv4 address, only as the last part.
            if explicit != part_count
                || part.split(|&b| b == b'.').count() != 4
                || part.split(|&b| b == b'.').any(|o| octet(o).is_none())
            {
                return false;
            }
            groups += 2;
        } else if part.is_empty() || part.len() > 4 || !part.iter().all(u8::is_ascii_hexdigit) {
            return false;
        } else {
            groups += 1;
        }
    }
    if compressed == 1 {
        groups < 8 && explicit >= 2
    } else {
        groups == 8
    }
}
