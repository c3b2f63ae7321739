//! E-mail addresses: a local part, `@`, and a domain of at least two labels ending in an alphabetic top-level domain.
//!
//! Local part: letters (any script), digits and `. _ % + - '`, not starting or ending with a dot,
//! no two dots in a row. Domain labels: letters, digits and inner dashes, at most 63
//! bytes each; the top-level domain 2 to 24 letters or an `xn--` label.

use super::context::{ContextWords, char_at, char_before, score};
use super::{PiiEntity, PiiFinding};

const WORDS: ContextWords = ContextWords {
    positive: word_list![
        "email", "e-mail", "mail", "mailto", "contact", "address", "inbox", "wrote", "reply"
    ],
    negative: word_list![],
    boost: 0.1,
    penalty: 0.0,
};

const BASE: f32 = 0.9;

/// Longest local part, in bytes (RFC 5321).
const LOCAL_BYTES_MAX: usize = 64;
/// Longest domain, in bytes (RFC 5321).
const DOMAIN_BYTES_MAX: usize = 255;

fn is_local_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'%' | b'+' | b'-' | b'\'')
}

fn is_domain_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-')
}

/// Looks for an address around the `@` at byte `at`.
pub(super) fn at_sign(text: &str, at: usize, out: &mut Vec<PiiFinding>) {
    let bytes = text.as_bytes();
    let mut start = at;
    while let Some(c) = char_before(text, start) {
        let ok = if c.is_ascii() {
            is_local_byte(c as u8)
        } else {
            c.is_alphanumeric()
        };
        if !ok || at - start >= LOCAL_BYTES_MAX {
            break;
        }
        start -= c.len_utf8();
    }
    // Quotes and dots may surround an address in prose; they are not part of it.
    while start < at && matches!(bytes[start], b'\'' | b'.') {
        start += 1;
    }
    let mut end = at + 1;
    while end < bytes.len() && is_domain_byte(bytes[end]) && end - at <= DOMAIN_BYTES_MAX {
        end += 1;
    }
    while end > at + 1 && matches!(bytes[end - 1], b'.' | b'-') {
        end -= 1;
    }
    let local = &bytes[start..at];
    let domain = &bytes[at + 1..end];
    if !local_ok(local) || !domain_ok(domain) {
        return;
    }
    // A non-ASCII letter right before or after means the match is part of something else.
    let glued = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric());
    if glued(char_before(text, start)) || glued(char_at(text, end)) {
        return;
    }
    let (confidence, context) = score(text, start, end, BASE, &WORDS);
    out.push(PiiFinding {
        entity: PiiEntity::Email,
        start,
        end,
        confidence,
        context,
    });
}

fn local_ok(local: &[u8]) -> bool {
    !local.is_empty()
        && local[0] != b'.'
        && local[local.len() - 1] != b'.'
        && !local.windows(2).any(|w| w == b"..")
        && local
            .iter()
            .any(|b| b.is_ascii_alphanumeric() || *b >= 0x80)
}

fn domain_ok(domain: &[u8]) -> bool {
    let mut labels = 0;
    let mut last: &[u8] = &[];
    for label in domain.split(|&b| b == b'.') {
        let ok = !label.is_empty()
            && label.len() <= 63
            && label[0] != b'-'
            && label[label.len() - 1] != b'-';
        if !ok {
            return false;
        }
        labels += 1;
        last = label;
    }
    let tld_ok = ((2..=24).contains(&last.len()) && last.iter().all(u8::is_ascii_alphabetic))
        || (last.len() > 4 && last[..4].eq_ignore_ascii_case(b"xn--"));
    labels >= 2 && tld_ok
}
