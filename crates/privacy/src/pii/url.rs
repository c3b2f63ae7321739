//! URLs that carry personal data in their query or fragment: `?email=`, `&user=`, `#access_token=`.
//!
//! A URL starts at `scheme://` or at `www.` and runs to white space or a quote or angle
//! bracket, less trailing punctuation. It is reported (whole) when a parameter's name
//! names personal data or a credential (split into words: `userEmail`, `first_name`,
//! `access-token`), or when a value, percent-decoded, is itself an e-mail address or an
//! international phone number. URLs without such parameters are not personal.

use super::context::{ContextWords, WordList, is_word_start, score};
use super::{PiiEntity, PiiFinding, email};

const WORDS: ContextWords = ContextWords {
    positive: word_list![
        "link",
        "url",
        "profile",
        "unsubscribe",
        "reset",
        "login",
        "account",
        "invite"
    ],
    negative: word_list![],
    boost: 0.1,
    penalty: 0.0,
};

/// A parameter name says the value is personal.
const BASE_NAME: f32 = 0.8;
/// A parameter value is itself personal data.
const BASE_VALUE: f32 = 0.85;

/// Longest URL examined, in bytes; a longer one is examined up to here.
const URL_BYTES_MAX: usize = 4_096;
/// Longest parameter value decoded, in bytes.
const VALUE_BYTES_MAX: usize = 256;

/// Words in parameter names that say the value is personal data or a credential.
const PERSONAL_NAMES: WordList = word_list![
    "email",
    "mail",
    "name",
    "firstname",
    "lastname",
    "fullname",
    "fname",
    "lname",
    "surname",
    "username",
    "user",
    "userid",
    "uid",
    "login",
    "phone",
    "tel",
    "mobile",
    "msisdn",
    "ssn",
    "dob",
    "birthdate",
    "birthday",
    "address",
    "street",
    "zip",
    "zipcode",
    "postcode",
    "iban",
    "card",
    "token",
    "session",
    "sessionid",
    "sid",
    "auth",
    "password",
    "passwd",
    "pwd",
    "secret",
    "customer",
    "member",
    "recipient",
];

/// Looks for a URL whose `://` is at byte `colon`; returns the byte offset past the URL (or
/// past `://` when there is none).
pub(super) fn at_scheme_separator(text: &str, colon: usize, out: &mut Vec<PiiFinding>) -> usize {
    let bytes = text.as_bytes();
    let mut start = colon;
    while start > 0
        && (bytes[start - 1].is_ascii_alphanumeric()
            || matches!(bytes[start - 1], b'+' | b'.' | b'-'))
    {
        start -= 1;
    }
    while start < colon && !bytes[start].is_ascii_alphabetic() {
        start += 1;
    }
    if start == colon || colon - start > 16 || !is_word_start(text, start) {
        return colon + 3;
    }
    url_from(text, start, colon + 3, out)
}

/// Looks for a URL starting with `www.` at byte `start` (a word start); returns the byte
/// offset past it if there is one.
pub(super) fn at_www(text: &str, start: usize, out: &mut Vec<PiiFinding>) -> Option<usize> {
    let bytes = text.as_bytes();
    let www = bytes.get(start..start + 4)?;
    if !www.eq_ignore_ascii_case(b"www.")
        || !bytes.get(start + 4).is_some_and(u8::is_ascii_alphanumeric)
    {
        return None;
    }
    Some(url_from(text, start, start + 4, out))
}

/// Reads the URL at `start` (host beginning at `host`), reports it if personal and returns its end.
fn url_from(text: &str, start: usize, host: usize, out: &mut Vec<PiiFinding>) -> usize {
    let end = url_end(text, host);
    let bytes = &text.as_bytes()[host..end];
    let host_len = bytes
        .iter()
        .position(|b| matches!(b, b'/' | b'?' | b'#'))
        .unwrap_or(bytes.len());
    if host_len == 0 {
        return end;
    }
    let Some(base) = personal_parameters(&text[host + host_len..end]) else {
        return end;
    };
    let (confidence, context) = score(text, start, end, base, &WORDS);
    out.push(PiiFinding {
        entity: PiiEntity::UrlPersonal,
        start,
        end,
        confidence,
        context,
    });
    end
}

/// The end of a URL whose host starts at `host`: white space, a quote or an angle bracket,
/// less trailing punctuation (and a closing parenthesis or bracket that has no opener).
fn url_end(text: &str, host: usize) -> usize {
    let bytes = text.as_bytes();
    let limit = bytes.len().min(host + URL_BYTES_MAX);
    let mut end = host;
    while end < limit {
        let b = bytes[end];
        if b.is_ascii_whitespace()
            || b.is_ascii_control()
            || matches!(b, b'"' | b'<' | b'>' | b'`' | b'\'')
        {
            break;
        }
        end += 1;
    }
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    loop {
        match bytes[..end].last() {
            Some(b'.' | b',' | b';' | b':' | b'!' | b'?') => end -= 1,
            Some(&close @ (b')' | b']' | b'}')) => {
                let open = match close {
                    b')' => b'(',
                    b']' => b'[',
                    _ => b'{',
                };
                let span = &bytes[host..end];
                let opens = span.iter().filter(|&&b| b == open).count();
                let closes = span.iter().filter(|&&b| b == close).count();
                if closes > opens {
                    end -= 1;
                } else {
                    break;
                }
            }
            _ => break,
        }
    }
    end.max(host)
}

/// The base confidence if the path-query-fragment `rest` carries a personal parameter.
fn personal_parameters(rest: &str) -> Option<f32> {
    let query_at = rest.bytes().position(|b| b == b'?' || b == b'#')?;
    let mut best: Option<f32> = None;
    for pair in rest.as_bytes()[query_at + 1..].split(|b| matches!(b, b'&' | b';' | b'?' | b'#')) {
        let Some(eq) = pair.iter().position(|&b| b == b'=') else {
            continue;
        };
        let (name, value) = (&pair[..eq], &pair[eq + 1..]);
        if value.is_empty() {
            continue;
        }
        if name_is_personal(name) {
            best = Some(best.unwrap_or(0.0).max(BASE_NAME));
        }
        if value_is_personal(value) {
            best = Some(BASE_VALUE);
        }
    }
    best
}

/// Whether a word of the parameter name (split at non-letters and lower-to-upper case
/// changes) names personal data.
fn name_is_personal(name: &[u8]) -> bool {
    let bytes = name;
    let mut word_start = 0;
    for k in 0..=bytes.len() {
        let boundary = k == bytes.len()
            || !bytes[k].is_ascii_alphabetic()
            || (k > word_start
                && bytes[k].is_ascii_uppercase()
                && bytes[k - 1].is_ascii_lowercase());
        if boundary {
            if PERSONAL_NAMES.contains(&bytes[word_start..k]) {
                return true;
            }
            word_start = if k < bytes.len() && bytes[k].is_ascii_alphabetic() {
                k
            } else {
                k + 1
            };
        }
    }
    false
}

/// Whether a parameter value, percent-decoded, is an e-mail address or an E.164 number.
fn value_is_personal(value: &[u8]) -> bool {
    let mut buffer = [0u8; VALUE_BYTES_MAX];
    let decoded = percent_decode(value, &mut buffer);
    let Ok(decoded) = std::str::from_utf8(decoded) else {
        return false;
    };
    let decoded = decoded.trim();
    if let Some(at) = decoded.find('@') {
        let mut found = Vec::new();
        email::at_sign(decoded, at, &mut found);
        return !found.is_empty();
    }
    let digits = decoded.bytes().filter(u8::is_ascii_digit).count();
    decoded.starts_with('+')
        && (8..=15).contains(&digits)
        && decoded
            .bytes()
            .skip(1)
            .all(|b| b.is_ascii_digit() || matches!(b, b' ' | b'-' | b'.' | b'(' | b')'))
}

/// Percent-decodes up to [`VALUE_BYTES_MAX`] bytes of `value` into `out`; `+` is a space
/// except first. Returns the decoded bytes.
fn percent_decode<'b>(value: &[u8], out: &'b mut [u8; VALUE_BYTES_MAX]) -> &'b [u8] {
    let bytes = value;
    let hex = |k: usize| bytes.get(k).and_then(|&b| (b as char).to_digit(16));
    let mut len = 0;
    let mut k = 0;
    while k < bytes.len() && len < VALUE_BYTES_MAX {
        let (byte, used) = match (bytes[k], hex(k + 1), hex(k + 2)) {
            (b'%', Some(high), Some(low)) => (u8::try_from(high * 16 + low).unwrap_or(b'%'), 3),
            (b'+', _, _) if k > 0 => (b' ', 1),
            (b, _, _) => (b, 1),
        };
        out[len] = byte;
        len += 1;
        k += used;
    }
    &out[..len]
}
