//! IBANs: a country code, two check digits and the account number, with the country's length and a valid mod-97 check.
//!
//! Written in the electronic form (`DE89370400440532013000`) or in groups separated by
//! single spaces or dashes (`DE89 3704 0044 0532 0130 00`); case is ignored.

use super::context::{ContextWords, is_word_end, score};
use super::{PiiEntity, PiiFinding};

const WORDS: ContextWords = ContextWords {
    positive: word_list![
        "iban",
        "bank",
        "account",
        "acct",
        "transfer",
        "wire",
        "sepa",
        "bic",
        "swift",
        "refund",
        "kontonummer",
        "konto",
        "bankverbindung",
        "rib",
        "virement",
        "compte",
    ],
    negative: word_list![],
    boost: 0.1,
    penalty: 0.0,
};

const BASE: f32 = 0.9;

/// IBAN lengths by country (ISO 13616 registry), for the countries that use IBANs most.
const LENGTHS: &[(&[u8; 2], usize)] = &[
    (b"AD", 24),
    (b"AE", 23),
    (b"AL", 28),
    (b"AT", 20),
    (b"AZ", 28),
    (b"BA", 20),
    (b"BE", 16),
    (b"BG", 22),
    (b"BH", 22),
    (b"BR", 29),
    (b"CH", 21),
    (b"CR", 22),
    (b"CY", 28),
    (b"CZ", 24),
    (b"DE", 22),
    (b"DK", 18),
    (b"DO", 28),
    (b"EE", 20),
    (b"EG", 29),
    (b"ES", 24),
    (b"FI", 18),
    (b"FO", 18),
    (b"FR", 27),
    (b"GB", 22),
    (b"GE", 22),
    (b"GI", 23),
    (b"GL", 18),
    (b"GR", 27),
    (b"GT", 28),
    (b"HR", 21),
    (b"HU", 28),
    (b"IE", 22),
    (b"IL", 23),
    (b"IS", 26),
    (b"IT", 27),
    (b"JO", 30),
    (b"KW", 30),
    (b"KZ", 20),
    (b"LB", 28),
    (b"LI", 21),
    (b"LT", 20),
    (b"LU", 20),
    (b"LV", 21),
    (b"MC", 27),
    (b"MD", 24),
    (b"ME", 22),
    (b"MK", 19),
    (b"MR", 27),
    (b"MT", 31),
    (b"MU", 30),
    (b"NL", 18),
    (b"NO", 15),
    (b"PK", 24),
    (b"PL", 28),
    (b"PS", 29),
    (b"PT", 25),
    (b"QA", 29),
    (b"RO", 24),
    (b"RS", 22),
    (b"SA", 24),
    (b"SE", 24),
    (b"SI", 19),
    (b"SK", 24),
    (b"SM", 27),
    (b"TN", 24),
    (b"TR", 26),
    (b"UA", 29),
    (b"VG", 24),
    (b"XK", 20),
];

/// Longest IBAN of any country, in characters.
const IBAN_CHARS_MAX: usize = 34;

/// Looks for an IBAN whose country code starts at byte `p` (two letters, then digits).
///
/// Returns the byte offset past anything shaped like an IBAN of that country (its length,
/// ending at a word end), so the caller skips it whole; reports it only if the check
/// digits are right.
pub(super) fn at(text: &str, p: usize, out: &mut Vec<PiiFinding>) -> Option<usize> {
    let bytes = text.as_bytes();
    let country = [
        bytes[p].to_ascii_uppercase(),
        bytes[p + 1].to_ascii_uppercase(),
    ];
    let &(_, len) = LENGTHS.iter().find(|(c, _)| **c == country)?;
    let mut chars = [0u8; IBAN_CHARS_MAX];
    let mut n = 0;
    let mut pos = p;
    while n < len {
        match bytes.get(pos) {
            Some(&b) if b.is_ascii_alphanumeric() => {
                chars[n] = b.to_ascii_uppercase();
                n += 1;
                pos += 1;
            }
            // A single separator between groups, never inside the first four characters.
            Some(b' ' | b'-')
                if n >= 4 && bytes.get(pos + 1).is_some_and(u8::is_ascii_alphanumeric) =>
            {
                pos += 1
            }
            _ => return None,
        }
    }
    if !chars[2..4].iter().all(u8::is_ascii_digit) || !is_word_end(text, pos) {
        return None;
    }
    if !mod97_valid(&chars[..len]) {
        return Some(pos);
    }
    let (confidence, context) = score(text, p, pos, BASE, &WORDS);
    out.push(PiiFinding {
        entity: PiiEntity::Iban,
        start: p,
        end: pos,
        confidence,
        context,
    });
    Some(pos)
}

/// ISO 7064 mod 97-10 over the IBAN moved four characters left, letters as 10 to 35.
pub(super) fn mod97_valid(iban: &[u8]) -> bool {
    let mut rem = 0u32;
    for &c in iban[4..].iter().chain(&iban[..4]) {
        rem = match c {
            b'0'..=b'9' => (rem * 10 + u32::from(c - b'0')) % 97,
            b'A'..=b'Z' => (rem * 100 + u32::from(c - b'A') + 10) % 97,
            _ => return false,
        };
    }
    rem == 1
}
