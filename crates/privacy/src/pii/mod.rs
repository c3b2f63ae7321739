//! PII detection in free text: which personal data a text holds, where, and how sure we are.
//!
//! [`scan`] finds e-mail addresses, phone numbers, payment cards, IBANs, IP addresses, US
//! social security numbers, dates of birth and URLs that carry personal query values, and
//! returns [`PiiFinding`]s (entity, byte span, confidence, the context words that raised
//! it). [`apply`] then rewrites the text under a [`PiiAction`]: redact, mask or tokenize
//! ([`hmac_token`] makes keyed, per-tenant stable tokens); sealing is the caller's.
//!
//! How it works: one pass over the bytes with cheap triggers (`@` for e-mail, a digit for
//! numbers and IBANs, `:` for IPv6 and URLs, `www.`, a birth keyword at a word start, a
//! word for `@` at a word start), each trigger handing a small window to its recognizer,
//! which validates (Luhn, mod 97, SSN area rules, octet ranges, calendar dates) before it
//! reports. No regular expressions.
//!
//! What the recognizers accept, beyond the plain forms (each module says more):
//! - e-mail addresses written out to dodge filters: `jane at example dot com`,
//!   `jane (at) example (dot) com`, `jane [at] example [dot] org`, Spanish
//!   `juan arroba gmail punto com`, German `max ät firma punkt de`, French
//!   `pierre arobase orange point fr`. The word for `@` is the trigger (`at`, `arroba`,
//!   `arobase` are a word start's `a`, `ät` its `ä`), and most words are turned away by
//!   their second byte; then one label and a dot word must follow at once, so prose
//!   ("meet me at home") costs a word's read. A domain must end in a common top-level
//!   domain from a bounded list; a bare ` at ` also needs a dot written as a word and a
//!   plausible local part and first label ("look at the dot com boom" is not an address).
//! - dates of birth after English, German, French and Spanish keywords ("born",
//!   "geboren", "né", "DDN", "fecha de nacimiento", "nacido", "nací", "F. nac."), with
//!   month names in all four languages (`3 de marzo de 1987`, `1er mai 1990`), a place
//!   name or a weekday between keyword and date ("born in Lyon on ...", "geboren am
//!   Montag, dem ..."); words that name another kind of date (delivery, appointment,
//!   invoice, party) stop the search.
//! - numbers in parentheses (`(+34 612 345 678)`), a card glued to `#` (only the card
//!   recognizer is asked, so `order #123456` stays an id), numbers ending at a comma that
//!   is no thousands separator (CSV rows: `0612345678,17`), and national phone formats
//!   without a country code: NANP, trunk-prefix European (`020 7946 0958`, `030/1234567`,
//!   `06 12 34 56 78`, `0612345678`), Spanish (`612 345 678`, `91 123 45 67`) and Indian
//!   (`98765 43210`, `09876543210`).
//!
//! Confidence is a recognizer's base score for the shape it saw, raised by context words
//! near the span ("phone", "card", "IBAN"; "Tel.", "Handy", "portable", "móvil",
//! "llámame") and lowered by words that name something else ("order", "invoice",
//! "version"; "Bestellung", "commande", "pedido"); findings under [`CONFIDENCE_MIN`] are
//! dropped, so a weak shape (a bare ten-digit run, a Spanish landline in threes) is
//! reported only next to a word that says what it is.
//!
//! Bounds: only the first [`PII_SCAN_BYTES_MAX`] bytes of a text are scanned (every value
//! that passes schema validation is shorter), and every recognizer reads a bounded window
//! around its trigger (a written-out address: at most three spaces around a separator,
//! eight labels of 63 bytes, a 64-byte local part). Scanning never panics on any `&str`.
//!
//! [`PII_SCAN_BYTES_MAX`]: crate::limits::PII_SCAN_BYTES_MAX

/// A `context::WordList` from string literals, its hash table built at compile time.
macro_rules! word_list {
    ($($word:literal),* $(,)?) => {{
        const WORDS: &[&str] = &[$($word),*];
        const TABLE: (
            [u64; $crate::pii::context::WORD_SLOTS],
            [u16; $crate::pii::context::WORD_SLOTS],
        ) = $crate::pii::context::word_table(WORDS);
        $crate::pii::context::WordList { words: WORDS, slots: &TABLE.0, index: &TABLE.1 }
    }};
}

mod actions;
mod card;
mod context;
mod dob;
mod email;
mod iban;
mod ip;
mod numbers;
mod phone;
mod ssn;
mod url;

use std::fmt;

use crate::limits::PII_SCAN_BYTES_MAX;

pub use actions::{PiiAction, apply, hmac_token, normalize_for_token, redact};

/// Findings below this confidence are not reported by [`scan`].
pub const CONFIDENCE_MIN: f32 = 0.5;

/// A kind of personal data the scanner recognizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PiiEntity {
    /// An e-mail address.
    Email,
    /// A phone number: E.164 (`+` and 8 to 15 digits) or a common national format.
    Phone,
    /// A payment card number: 13 to 19 digits, a known issuer prefix, a valid Luhn digit.
    CreditCard,
    /// An international bank account number with a valid mod-97 check.
    Iban,
    /// An IPv4 or IPv6 address.
    IpAddress,
    /// A US social security number.
    UsSsn,
    /// A calendar date next to words that say it is someone's birth date.
    DateOfBirth,
    /// A URL whose query or fragment carries personal values (`?email=`, `&name=`).
    UrlPersonal,
}

impl PiiEntity {
    /// Every entity, in declaration order.
    pub const ALL: [PiiEntity; 8] = [
        PiiEntity::Email,
        PiiEntity::Phone,
        PiiEntity::CreditCard,
        PiiEntity::Iban,
        PiiEntity::IpAddress,
        PiiEntity::UsSsn,
        PiiEntity::DateOfBirth,
        PiiEntity::UrlPersonal,
    ];

    /// The entity's stable name (`"credit_card"`), used in APIs, tokens and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            PiiEntity::Email => "email",
            PiiEntity::Phone => "phone",
            PiiEntity::CreditCard => "credit_card",
            PiiEntity::Iban => "iban",
            PiiEntity::IpAddress => "ip_address",
            PiiEntity::UsSsn => "us_ssn",
            PiiEntity::DateOfBirth => "date_of_birth",
            PiiEntity::UrlPersonal => "url_personal",
        }
    }

    /// Parses a stable name; `None` if unknown.
    pub fn parse(name: &str) -> Option<PiiEntity> {
        PiiEntity::ALL.into_iter().find(|e| e.as_str() == name)
    }

    /// The text [`PiiAction::Redact`] puts in place of a span (`"[CREDIT_CARD]"`).
    pub fn placeholder(self) -> &'static str {
        match self {
            PiiEntity::Email => "[EMAIL]",
            PiiEntity::Phone => "[PHONE]",
            PiiEntity::CreditCard => "[CREDIT_CARD]",
            PiiEntity::Iban => "[IBAN]",
            PiiEntity::IpAddress => "[IP_ADDRESS]",
            PiiEntity::UsSsn => "[US_SSN]",
            PiiEntity::DateOfBirth => "[DATE_OF_BIRTH]",
            PiiEntity::UrlPersonal => "[URL_PERSONAL]",
        }
    }
}

impl fmt::Display for PiiEntity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One piece of personal data found in a text.
#[derive(Debug, Clone, PartialEq)]
pub struct PiiFinding {
    /// What was found.
    pub entity: PiiEntity,
    /// Byte offset of the first byte of the span; always on a char boundary.
    pub start: usize,
    /// Byte offset just past the span; always on a char boundary, greater than `start`.
    pub end: usize,
    /// How sure the recognizer is, from 0 to 1; at least [`CONFIDENCE_MIN`] from [`scan`].
    pub confidence: f32,
    /// The context words near the span that raised the confidence (lowercase, as listed).
    pub context: Vec<&'static str>,
}

impl PiiFinding {
    /// The span's text in `text` (the text that was scanned); empty if it does not fit.
    pub fn text<'t>(&self, text: &'t str) -> &'t str {
        text.get(self.start..self.end).unwrap_or("")
    }
}

/// Finds the personal data in `text`, sorted by start, without overlaps.
///
/// Only the first [`PII_SCAN_BYTES_MAX`] bytes are scanned. Where two findings overlap,
/// one containing the other wins (redacting it covers both); otherwise the more
/// confident one, then the longer one.
pub fn scan(text: &str) -> Vec<PiiFinding> {
    let text = scan_prefix(text);
    let mut found = Vec::new();
    find_candidates(text, &mut found);
    found.retain(|f| f.confidence >= CONFIDENCE_MIN);
    resolve_overlaps(found)
}

/// The part of `text` that [`scan`] reads: at most [`PII_SCAN_BYTES_MAX`] bytes, cut on a
/// char boundary.
pub fn scan_prefix(text: &str) -> &str {
    if text.len() <= PII_SCAN_BYTES_MAX {
        return text;
    }
    let mut end = PII_SCAN_BYTES_MAX;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// The single pass: each byte that can start or anchor an entity hands over to its recognizer.
fn find_candidates(text: &str, out: &mut Vec<PiiFinding>) {
    let bytes = text.as_bytes();
    // Ends of regions a recognizer has already consumed, so a run is examined once.
    let mut number_end = 0;
    let mut colon_end = 0;
    let mut url_end = 0;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b.is_ascii_alphabetic() {
            // A word: only its first letter may trigger (a birth keyword, `www.`, a word
            // for `@`); the rest of its letters are skipped at once.
            let trigger = TRIGGERS[usize::from(b)];
            // The rarer triggers are checked by their second byte first: `at`, `arroba`,
            // `arobase`; `cumpleaños`.
            let second = || bytes.get(i + 1).map_or(0, |n| n | 0x20);
            let wanted = match trigger {
                0 => false,
                b'a' => matches!(second(), b't' | b'r'),
                b'c' => second() == b'u',
                _ => true,
            };
            if wanted && context::is_word_start(text, i) {
                match trigger {
                    b'w' => {
                        if i >= url_end
                            && let Some(end) = url::at_www(text, i, out)
                        {
                            url_end = end;
                        }
                    }
                    b'a' => email::at_word(text, i, out),
                    _ => dob::at_word(text, i, out),
                }
            }
            i = skip_letters(bytes, i + 1);
            continue;
        }
        match b {
            b'0'..=b'9' if i >= number_end => number_end = numbers::scan_run(text, i, out),
            b'@' => email::at_sign(text, i, out),
            // `ät`, German for `@` in a written-out address.
            0xc3 if matches!(bytes.get(i + 1), Some(0xa4 | 0x84))
                && context::is_word_start(text, i) =>
            {
                email::at_word(text, i, out);
            }
            b':' => {
                if i >= url_end && bytes[i + 1..].starts_with(b"//") {
                    url_end = url::at_scheme_separator(text, i, out);
                }
                if i >= colon_end {
                    colon_end = ip::v6_at_colon(text, i, out);
                    // Digits in a colon-joined run (`2001:db8::6bc4`, `10:30`) are not
                    // numbers of their own.
                    number_end = number_end.max(colon_end);
                }
            }
            _ => {}
        }
        i += 1;
    }
}

/// The offset of the first byte at or after `i` that is not an ASCII letter.
///
/// Eight bytes at a time (SWAR): a byte is a letter when it is ASCII and, with bit 5 set
/// (lower case), lies in `a..=z`; the per-byte sums below cannot carry into a neighbour.
#[inline]
fn skip_letters(bytes: &[u8], mut i: usize) -> usize {
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    const ONES: u64 = 0x0101_0101_0101_0101;
    while let Some(chunk) = bytes.get(i..i + 8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let x = u64::from_le_bytes(word);
        let y = (x | (ONES * 0x20)) & LOW7;
        let at_least_a = (y + ONES * (0x80 - 0x61)) & HIGH;
        let past_z = (y + ONES * (0x80 - 0x7b)) & HIGH;
        let letters = at_least_a & !past_z & !x & HIGH;
        let others = !letters & HIGH;
        if others != 0 {
            return i + (others.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while i < bytes.len() && bytes[i].is_ascii_alphabetic() {
        i += 1;
    }
    i
}

/// First letters of words that may start an entity, lowercase (0 for other bytes): `www.`,
/// the birth keywords and the words for `@` in written-out addresses (`at`, `arroba`,
/// `arobase`).
static TRIGGERS: [u8; 256] = {
    let mut table = [0u8; 256];
    let bytes = b"wbdgnca";
    let mut k = 0;
    while k < bytes.len() {
        table[bytes[k] as usize] = bytes[k];
        table[bytes[k].to_ascii_uppercase() as usize] = bytes[k];
        k += 1;
    }
    table
};

/// Sorts findings by start and drops overlaps: a container beats what it contains; of two
/// partly overlapping findings the more confident one stays (the longer one on a tie).
fn resolve_overlaps(mut found: Vec<PiiFinding>) -> Vec<PiiFinding> {
    found.sort_by(|a, b| a.start.cmp(&b.start).then(b.end.cmp(&a.end)));
    let mut kept = 0;
    for k in 0..found.len() {
        if kept > 0 && found[k].start < found[kept - 1].end {
            let (f, last) = (&found[k], &found[kept - 1]);
            if f.end <= last.end {
                continue;
            }
            let longer = f.end - f.start > last.end - last.start;
            if f.confidence > last.confidence || (f.confidence == last.confidence && longer) {
                found.swap(kept - 1, k);
            }
        } else {
            found.swap(kept, k);
            kept += 1;
        }
    }
    found.truncate(kept);
    found
}

#[cfg(test)]
mod tests {
    use super::skip_letters;

    #[test]
    fn skip_letters_agrees_with_a_byte_loop() {
        let texts = [
            "",
            "abc",
            "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ 1",
            "Hello@world:here",
            "words`[{ZZ}]`@",
            "éèabcdefghij",
            "abcdefgh\u{0}",
            "ABCDEFGHIJKLMNOP7",
        ];
        for text in texts {
            let bytes = text.as_bytes();
            for i in 0..=bytes.len() {
                let mut naive = i;
                while naive < bytes.len() && bytes[naive].is_ascii_alphabetic() {
                    naive += 1;
                }
                assert_eq!(skip_letters(bytes, i), naive, "{text:?} from {i}");
            }
        }
    }
}
