//! E-mail addresses: a local part, `@`, and a domain of at least two labels ending in an alphabetic top-level domain.
//!
//! Local part: letters (any script), digits and `. _ % + - '`, not starting or ending with a dot,
//! no two dots in a row. Domain labels: letters, digits and inner dashes, at most 63
//! bytes each; the top-level domain 2 to 24 letters or an `xn--` label.
//!
//! Addresses written out to dodge filters are found too, from the word that stands for
//! `@`: `at`, `arroba` (Spanish), `arobase` (French), `ät` (German), alone between spaces
//! or in brackets (`(at)`, `[at]`, `{at}`, `<at>`, also `(@)` and ` @ `); dots written as
//! `.`, `dot`, `punkt`, `punto` or `point`, alone or in brackets (`(dot)`, `[.]`), in the
//! domain and in the local part (`jane dot doe at example dot com`). What comes after must
//! be a domain of at least two labels ending in a common top-level domain from a bounded
//! list, and before it a plausible local part. A bare ` at ` is also an English
//! preposition, so it needs more: a dot written as a word or in brackets, no pronoun or
//! verb for a local part ("look at"), no article for a first label ("at the dot com
//! boom"), and a top-level domain that is not also a short word ("look at red dot in"),
//! unless the dot word is German or Spanish (`max at firma punkt de`).

use super::context::{ContextWords, WordList, char_at, char_before, is_word_end, score};
use super::{PiiEntity, PiiFinding};

const WORDS: ContextWords = ContextWords {
    positive: word_list![
        "email",
        "e-mail",
        "mail",
        "mailto",
        "contact",
        "address",
        "inbox",
        "wrote",
        "reply",
        "correo",
        "courriel",
        "adresse",
        "dirección",
        "direccion"
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

/// Looks for an address around the `@` at byte `at`: written plainly (`jane@example.com`)
/// or, the `@` set off by spaces or brackets, written out (`jane (@) example (dot) com`).
pub(super) fn at_sign(text: &str, at: usize, out: &mut Vec<PiiFinding>) {
    if !plain_at_sign(text, at, out) {
        let bytes = text.as_bytes();
        let set_off = |b: Option<&u8>| b.is_some_and(|&b| b == b' ' || is_bracket(b));
        if at > 0 && set_off(bytes.get(at - 1)) && set_off(bytes.get(at + 1)) {
            at_word(text, at, out);
        }
    }
}

/// Looks for a plain address around the `@` at byte `at`; whether it found one.
fn plain_at_sign(text: &str, at: usize, out: &mut Vec<PiiFinding>) -> bool {
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
        return false;
    }
    // A non-ASCII letter right before or after means the match is part of something else.
    let glued = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric());
    if glued(char_before(text, start)) || glued(char_at(text, end)) {
        return false;
    }
    let (confidence, context) = score(text, start, end, BASE, &WORDS);
    out.push(PiiFinding {
        entity: PiiEntity::Email,
        start,
        end,
        confidence,
        context,
    });
    true
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

// ---------------------------------------------------------------- addresses written out

/// A written-out address (`@` as a word) is reported with this confidence...
const BASE_WRITTEN: f32 = 0.85;
/// ... or this one when the `@` is a bare ` at `, also an English preposition.
const BASE_WRITTEN_BARE_AT: f32 = 0.75;

/// Most spaces read on either side of a written-out separator.
const SPACES_MAX: usize = 3;
/// Most labels read in a written-out domain.
const LABELS_MAX: usize = 8;
/// Most written-out dots read backwards into a local part (`jane dot m dot doe`).
const LOCAL_DOTS_MAX: usize = 2;

/// Top-level domains of written-out addresses.
const TLDS: WordList = word_list![
    "com", "net", "org", "edu", "gov", "mil", "info", "biz", "io", "eu", "uk", "fr", "ch", "nl",
    "dk", "se", "fi", "pl", "pt", "cz", "sk", "hu", "ro", "bg", "gr", "ru", "ua", "tr", "il", "ae",
    "jp", "cn", "kr", "tw", "hk", "sg", "au", "nz", "za", "br", "mx", "ar", "cl", "pe", "uy", "ve",
    "ec", "cr", "ca", "ie", "lu", "li", "mc", "cat", "tv", "dev", "app", "tech", "online", "xyz",
];

/// Top-level domains that are also short words ("look at red dot in"): taken after a bare
/// ` at ` only with a German or Spanish dot word or a bracketed dot.
const TLDS_WORDY: WordList = word_list![
    "de", "es", "it", "at", "be", "us", "in", "me", "co", "no", "ai"
];

/// Words that are no local part before a bare ` at ` ("look at", "meet me at"); nor is a
/// number ("version 2 at github dot io").
const LOCAL_NOT: WordList = word_list![
    "me",
    "us",
    "you",
    "him",
    "her",
    "them",
    "it",
    "we",
    "they",
    "i",
    "is",
    "are",
    "was",
    "were",
    "be",
    "am",
    "look",
    "looking",
    "looked",
    "meet",
    "see",
    "visit",
    "available",
    "here",
    "there",
    "up",
    "in",
    "out",
    "back",
    "online",
    "or",
    "and",
    "but",
    "not",
    "arrive",
    "arrived",
    "stay",
    "stayed",
    "work",
    "working",
    "live",
    "lives",
    "living",
    "only",
    "just",
    "still",
    "also",
    "now",
    "then",
    "sign",
    "log",
    "click",
    "go",
    "went",
    "come",
    "came",
    "the",
    "a",
    "an",
    "dot",
    "point",
    "this",
    "that",
    "one",
    "all",
    "off",
    "down",
    "worked",
    "works",
    "bought",
    "ordered",
    "purchased",
    "shopped",
    "shop",
    "buy",
    "order",
    "found",
    "listed",
    "hosted",
    "posted",
    "published",
    "registered",
    "signed",
    "logged",
];

/// Words that are no first domain label after a bare ` at ` ("at the dot com boom"); nor
/// is a number ("bubble at 2000 dot com").
const LABEL_NOT: WordList = word_list![
    "the", "a", "an", "this", "that", "these", "those", "my", "your", "his", "her", "its", "our",
    "their", "some", "any", "each", "every", "one", "no", "least", "last", "first", "all", "once",
    "home", "work", "night", "noon", "school", "which", "what", "such",
];

/// What a written-out separator stands for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Stands {
    At,
    Dot,
}

/// One written-out separator.
#[derive(Clone, Copy)]
struct Sep {
    stands: Stands,
    /// The word or sign, lowercase: `at`, `ät`, `arroba`, `dot`, `punkt`, `@`, `.`.
    word: &'static str,
    /// Written in brackets: `(at)`, `[dot]`.
    bracketed: bool,
}

fn is_bracket(b: u8) -> bool {
    matches!(b, b'(' | b'[' | b'{' | b'<' | b')' | b']' | b'}' | b'>')
}

fn closing(open: u8) -> Option<u8> {
    match open {
        b'(' => Some(b')'),
        b'[' => Some(b']'),
        b'{' => Some(b'}'),
        b'<' => Some(b'>'),
        _ => None,
    }
}

/// The separator word or sign written at byte `k`, and the byte offset past it.
fn sep_word_at(text: &str, k: usize) -> Option<(Stands, &'static str, usize)> {
    let bytes = text.as_bytes();
    match *bytes.get(k)? {
        b'@' => Some((Stands::At, "@", k + 1)),
        b'.' => Some((Stands::Dot, ".", k + 1)),
        // `ät`, `Ät`.
        0xc3 if matches!(bytes.get(k + 1), Some(0xa4 | 0x84))
            && matches!(bytes.get(k + 2), Some(b't' | b'T'))
            && is_word_end(text, k + 3) =>
        {
            Some((Stands::At, "ät", k + 3))
        }
        b if b.is_ascii_alphabetic() => {
            let len = bytes[k..]
                .iter()
                .take(8)
                .take_while(|b| b.is_ascii_alphabetic())
                .count();
            if !is_word_end(text, k + len) {
                return None;
            }
            let mut word = [0u8; 8];
            for (w, b) in word.iter_mut().zip(&bytes[k..k + len]) {
                *w = b.to_ascii_lowercase();
            }
            let (stands, name) = match &word[..len] {
                b"at" => (Stands::At, "at"),
                b"arroba" => (Stands::At, "arroba"),
                b"arobase" => (Stands::At, "arobase"),
                b"dot" => (Stands::Dot, "dot"),
                b"punkt" => (Stands::Dot, "punkt"),
                b"punto" => (Stands::Dot, "punto"),
                b"point" => (Stands::Dot, "point"),
                _ => return None,
            };
            Some((stands, name, k + len))
        }
        _ => None,
    }
}

/// Skips up to [`SPACES_MAX`] spaces forward from `k`.
fn spaces_after(bytes: &[u8], mut k: usize) -> usize {
    let from = k;
    while k - from < SPACES_MAX && bytes.get(k) == Some(&b' ') {
        k += 1;
    }
    k
}

/// Skips up to [`SPACES_MAX`] spaces backward from `k`.
fn spaces_before(bytes: &[u8], mut k: usize) -> usize {
    let from = k;
    while from - k < SPACES_MAX && k > 0 && bytes[k - 1] == b' ' {
        k -= 1;
    }
    k
}

/// The separator that starts at byte `p` (just past a label or local part) and the byte
/// offset of what follows it: a `.` before a letter or digit; a word or sign in brackets,
/// spaces around optional (`(at)`, ` [dot] `); or a word between spaces (` at `, ` punto `).
fn sep_after(text: &str, p: usize) -> Option<(Sep, usize)> {
    let bytes = text.as_bytes();
    if bytes.get(p) == Some(&b'.') {
        return bytes
            .get(p + 1)
            .is_some_and(u8::is_ascii_alphanumeric)
            .then_some((
                Sep {
                    stands: Stands::Dot,
                    word: ".",
                    bracketed: false,
                },
                p + 1,
            ));
    }
    let k = spaces_after(bytes, p);
    if let Some(close) = bytes.get(k).and_then(|&b| closing(b)) {
        let (stands, word, end) = sep_word_at(text, spaces_after(bytes, k + 1))?;
        let close_at = spaces_after(bytes, end);
        if bytes.get(close_at) != Some(&close) {
            return None;
        }
        let next = spaces_after(bytes, close_at + 1);
        let sep = Sep {
            stands,
            word,
            bracketed: true,
        };
        return Some((sep, next));
    }
    if k == p {
        return None;
    }
    let (stands, word, end) = sep_word_at(text, k)?;
    let next = spaces_after(bytes, end);
    if next == end || word == "." {
        return None;
    }
    let sep = Sep {
        stands,
        word,
        bracketed: false,
    };
    Some((sep, next))
}

/// The written-out dot that ends at byte `p` (just before a local-part token), and the
/// byte offset where it starts: ` dot `, ` (dot) `, `[.]`.
fn dot_before(text: &str, p: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    let k = spaces_before(bytes, p);
    let last = *bytes.get(k.checked_sub(1)?)?;
    let start = if matches!(last, b')' | b']' | b'}' | b'>') {
        let word_end = spaces_before(bytes, k - 1);
        let mut word_start = word_end;
        while word_start > 0
            && word_end - word_start < 8
            && (bytes[word_start - 1].is_ascii_alphabetic() || bytes[word_start - 1] == b'.')
        {
            word_start -= 1;
        }
        let open = spaces_before(bytes, word_start).checked_sub(1)?;
        if closing(bytes[open]) != Some(last) {
            return None;
        }
        open
    } else {
        if k == p {
            return None;
        }
        let mut word_start = k;
        while word_start > 0 && k - word_start < 8 && bytes[word_start - 1].is_ascii_alphabetic() {
            word_start -= 1;
        }
        if word_start == 0 || bytes[word_start - 1] != b' ' {
            return None;
        }
        word_start
    };
    // Read forward again: the separator must be a dot that ends exactly at `p`.
    let (sep, next) = sep_after(text, spaces_before(bytes, start))?;
    (sep.stands == Stands::Dot && next == p && sep.word != ".").then(|| spaces_before(bytes, start))
}

/// A domain label (ASCII letters, digits, inner dashes, at most 63 bytes) at byte `k`: its end.
fn label_at(bytes: &[u8], k: usize) -> Option<usize> {
    let len = bytes
        .get(k..)?
        .iter()
        .take(64)
        .take_while(|b| b.is_ascii_alphanumeric() || **b == b'-')
        .count();
    let label = &bytes[k..k + len];
    (!label.is_empty() && len <= 63 && label[0] != b'-' && label[len - 1] != b'-')
        .then_some(k + len)
}

/// The start of the local-part token that ends at byte `end`, as for a plain address.
fn local_token_before(text: &str, end: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut start = end;
    while let Some(c) = char_before(text, start) {
        let ok = if c.is_ascii() {
            is_local_byte(c as u8)
        } else {
            c.is_alphanumeric()
        };
        if !ok {
            break;
        }
        if end - start >= LOCAL_BYTES_MAX {
            return None;
        }
        start -= c.len_utf8();
    }
    while start < end && matches!(bytes[start], b'\'' | b'.') {
        start += 1;
    }
    let glued = char_before(text, start).is_some_and(|c| c.is_alphanumeric());
    (local_ok(&bytes[start..end]) && !glued).then_some(start)
}

/// Looks for a written-out address around the word or sign for `@` at byte `i` (a word
/// start: `at`, `arroba`, `arobase`, `ät`, or an `@` set off by spaces or brackets).
pub(super) fn at_word(text: &str, i: usize, out: &mut Vec<PiiFinding>) {
    let bytes = text.as_bytes();
    // Most words are turned away here, by their second and third bytes: `at` ends after
    // its `t`, `arroba` and `arobase` go on with `rr` and `ro` (`ät` and `@` go through).
    let lower = |k: usize| bytes.get(k).map(|b| b | 0x20);
    let maybe = match bytes[i] {
        b'@' | 0xc3 => true,
        _ => match lower(i + 1) {
            Some(b't') => !bytes.get(i + 2).is_some_and(u8::is_ascii_alphanumeric),
            Some(b'r') => matches!(lower(i + 2), Some(b'r' | b'o')),
            _ => false,
        },
    };
    if !maybe {
        return;
    }
    // The local part ends before the spaces and the bracket, if any, before the word.
    let mut local_end = spaces_before(bytes, i);
    if local_end > 0 && closing(bytes[local_end - 1]).is_some() {
        local_end = spaces_before(bytes, local_end - 1);
    }
    let Some((at, domain_start)) = sep_after(text, local_end) else {
        return;
    };
    if at.stands != Stands::At {
        return;
    }
    let bare_at = at.word == "at" && !at.bracketed;

    // The domain: labels joined by dots, written or written out; it ends after the last
    // label that is a known top-level domain.
    let mut k = domain_start;
    let mut labels = 0;
    let mut written_dot = false;
    let mut foreign_dot = false;
    let mut found = None;
    while labels < LABELS_MAX {
        let Some(label_end) = label_at(bytes, k) else {
            break;
        };
        let label = &bytes[k..label_end];
        if sep_word_at(text, k).is_some_and(|(_, _, e)| e == label_end) {
            break;
        }
        if labels == 0
            && bare_at
            && (LABEL_NOT.contains(label) || !label.iter().any(u8::is_ascii_alphabetic))
        {
            return;
        }
        labels += 1;
        if labels >= 2 && is_word_end(text, label_end) {
            let tld_ok =
                TLDS.contains(label) || (TLDS_WORDY.contains(label) && (!bare_at || foreign_dot));
            if tld_ok {
                found = Some((label_end, written_dot));
            }
        }
        let Some((sep, next)) = sep_after(text, label_end) else {
            break;
        };
        if sep.stands != Stands::Dot {
            break;
        }
        if sep.word != "." {
            written_dot = true;
            foreign_dot |= sep.bracketed || matches!(sep.word, "punkt" | "punto");
        }
        k = next;
    }
    let Some((end, written_dot)) = found else {
        return;
    };
    // A bare ` at ` before a plainly written domain is prose: "sign up at example.com".
    if bare_at && !written_dot {
        return;
    }

    // The local part: a token, or tokens joined by written-out dots (`jane dot doe`).
    let Some(mut start) = local_token_before(text, local_end) else {
        return;
    };
    let local = &bytes[start..local_end];
    if bare_at && (LOCAL_NOT.contains(local) || !local.iter().any(|b| !b.is_ascii_digit())) {
        return;
    }
    for _ in 0..LOCAL_DOTS_MAX {
        let Some(token_end) = dot_before(text, start) else {
            break;
        };
        match local_token_before(text, token_end) {
            Some(s) if !LOCAL_NOT.contains(&bytes[s..token_end]) => start = s,
            _ => break,
        }
    }
    let base = if bare_at {
        BASE_WRITTEN_BARE_AT
    } else {
        BASE_WRITTEN
    };
    let (confidence, context) = score(text, start, end, base, &WORDS);
    out.push(PiiFinding {
        entity: PiiEntity::Email,
        start,
        end,
        confidence,
        context,
    });
}
